/**
 * Temporary names of xroot copies and the clean-up of those earlier runs left behind: `.NAME.<hex>.aso-part`
 * files next to the destination, and batches' `.aso-part-<hex>/` directories holding the sources' basenames.
 * A run that owns a destination (a retry, a resumed or taken-over run) removes them before it copies; the
 * killer does the same for a killed attempt whose engine job is gone.
 */
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type { CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { removePartFiles } from '../file/file-copy.js'
import { StorageError } from '../protocol.js'
import {
  type RootUrl,
  rootDirname,
  rootList,
  rootRemoveMany,
  rootRmdir,
  rootUrlString,
} from './root-protocol.js'
import { type End, endOf } from './xroot-ends.js'

const TEMP_DIR = /^\.aso-part-[0-9a-f]{16}$/
const PART_FILE = /^\.(.+)\.[0-9a-f]+\.aso-part$/

/** A batch's temporary directory name, run-unique: `.aso-part-<16 hex digits>`. */
export function tempDirName(): string {
  return `.aso-part-${randomBytes(8).toString('hex')}`
}

/** Which file a `.NAME.<hex>.aso-part` name is the temporary copy of; null for other names. */
export function partOwner(name: string): string | null {
  return PART_FILE.exec(name)?.[1] ?? null
}

export interface LeftoverOptions {
  /** extra environment for xrdfs */
  env?: Record<string, string>
}

/**
 * Removes what earlier runs of the files `names` (basenames in `dir`) left there: their `.NAME.*.aso-part`
 * files, their names inside `.aso-part-*` directories, and such directories once empty. Files of other names
 * are never touched. An empty directory may also be a live batch's that xrdcp has not looked at yet (a few
 * milliseconds): that batch finds it gone and copies again (xroot-batch.ts). Throws a StorageError when the
 * server cannot list or remove.
 */
export async function removeRootLeftovers(
  dir: RootUrl,
  names: readonly string[],
  opts: LeftoverOptions = {},
): Promise<void> {
  const o = { scope: 'DESTINATION' as const, env: opts.env }
  const entries = await rootList(rootUrlString(dir), o)
  if (!entries) return
  const own = new Set(names)
  const doomed = entries.filter((n) => own.has(partOwner(n) ?? '')).map((n) => path.posix.join(dir.path, n))
  const emptied: string[] = []
  await eachLimit(
    entries.filter((n) => TEMP_DIR.test(n)),
    4,
    async (name) => {
      const sub = path.posix.join(dir.path, name)
      const inside = await rootList(`${dir.server}/${sub}`, o)
      if (!inside) return
      const mine = inside.filter((n) => own.has(n))
      doomed.push(...mine.map((n) => path.posix.join(sub, n)))
      // one that held only our files was a dead run's: a live one never holds a file we own
      if (mine.length === inside.length) emptied.push(sub)
    },
  )
  await rootRemoveMany(dir.server, doomed, o)
  for (const sub of emptied) {
    try {
      await rootRmdir(`${dir.server}/${sub}`, o)
    } catch (err) {
      // not empty any more: a batch has written into it since the listing, so it is not a dead run's
      if (!(err instanceof StorageError && err.errno === 39)) throw err
    }
  }
}

/** `removeRootLeftovers` for the one file a root:// URL names (the killer, the reaper). */
export async function removeRootLeftoversOf(url: RootUrl, opts: LeftoverOptions = {}): Promise<void> {
  await removeRootLeftovers(rootDirname(url), [path.posix.basename(url.path)], opts)
}

/**
 * Before a copy: removes what earlier runs left for each task that owns its destination, with one listing
 * per destination directory. Never throws: a failure here leaves garbage, not a wrong file.
 */
export async function removeStaleParts(
  tasks: readonly CopyTask[],
  env: Record<string, string>,
): Promise<void> {
  const dirs = new Map<string, { dir: RootUrl; names: string[] }>()
  const local: string[] = []
  for (const t of tasks) {
    if (!t.file.ownsDestination) continue
    let end: End
    try {
      end = endOf(t.destination, 'DESTINATION')
    } catch (err) {
      // the copy itself reports the unusable URL
      void err
      continue
    }
    if (end.kind === 'file') {
      local.push(end.path)
      continue
    }
    const dir = rootDirname(end.url)
    const key = `${dir.server}\u0000${dir.path}`
    const entry = dirs.get(key) ?? { dir, names: [] }
    entry.names.push(path.posix.basename(end.url.path))
    dirs.set(key, entry)
  }
  const warn = (where: string) => (err: unknown) => {
    process.emitWarning(
      `could not remove earlier runs' temporary copies in ${where}: ${(err as Error).message}`,
    )
  }
  await Promise.all([
    ...local.map((p) => removePartFiles(p).catch(warn(path.dirname(p)))),
    ...[...dirs.values()].map(({ dir, names }) =>
      removeRootLeftovers(dir, names, { env }).catch(warn(rootUrlString(dir))),
    ),
  ])
}
