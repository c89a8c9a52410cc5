/**
 * One `xrdcp --tpc only --parallel N` call for files that share a destination directory and keep their
 * basenames (docs/storage-notes.md §1: a multi-source call needs an existing target directory and names the
 * targets by the sources' basenames). The call writes into a run-unique hidden directory next to the files,
 * `dir/.aso-part-<hex>/`; each file is verified there and moved to its final name; the directory goes at the end.
 */
import path from 'node:path'
import { runChild } from '../child-process.js'
import type { CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { StorageError } from '../protocol.js'
import {
  errorLine,
  type RootUrl,
  rootDirname,
  rootList,
  rootListLong,
  rootMkdirs,
  rootRemoveMany,
  rootRmdir,
  rootUrlString,
} from './root-protocol.js'
import type { Slots } from './slots.js'
import { ABORTED, copyTimeoutMs, endStat, rootEnd } from './xroot-ends.js'
import { tempDirName } from './xroot-leftovers.js'
import {
  type Copy,
  copyReason,
  isTpcUnsupported,
  type Listed,
  placeVerified,
  type Report,
  reasonOf,
  settle,
  timeoutReason,
  verifyCopy,
} from './xroot-settle.js'

export interface Planned {
  task: CopyTask
  src: RootUrl
  dst: RootUrl
  /** how often this file's batch directory vanished before xrdcp wrote into it */
  lostDirs?: number
}

/** A file whose batch directory vanished this often fails rather than going again. */
const MAX_LOST_DIRS = 3

export interface TpcRun {
  env: Record<string, string>
  slots: Slots
  limit: number
  report: Report
  /** files whose destination (or source) refused TPC: they go to xroot-stream */
  fallback: CopyTask[]
}

/** The file goes to the streamed copy when the call's reason says an end refused third-party copy. */
export function fallsBack(p: Planned, callReason: string | undefined, run: TpcRun): boolean {
  if (!callReason || !isTpcUnsupported(callReason)) return false
  run.fallback.push(p.task)
  return true
}

/**
 * Runs one batch call and reports its files; returns the files to copy again (stopped because another file
 * of the call was aborted, before they were complete).
 */
export async function runBatch(batch: Planned[], run: TpcRun): Promise<Planned[]> {
  const live = batch.filter((p) => {
    if (p.task.signal.aborted) run.report(p.task, { ok: false, reason: ABORTED })
    return !p.task.signal.aborted
  })
  if (live.length === 0) return []
  const dir = rootDirname(live[0]!.dst)
  const tmp: RootUrl = { server: dir.server, path: path.posix.join(dir.path, tempDirName()) }
  try {
    await rootMkdirs(rootUrlString(tmp), { scope: 'DESTINATION', env: run.env })
  } catch (err) {
    for (const p of live) run.report(p.task, { ok: false, reason: reasonOf(err, 'DESTINATION') })
    return []
  }
  const copies = new Map<Planned, Copy>()
  for (const p of live) {
    const part = { server: tmp.server, path: path.posix.join(tmp.path, path.posix.basename(p.src.path)) }
    copies.set(p, { task: p.task, src: rootEnd(p.src), dst: rootEnd(p.dst), part: rootEnd(part) })
  }
  const ended: BatchEnd = { again: [], aborted: [], left: [] }
  try {
    await copyBatch(live, copies, tmp, run, ended)
  } finally {
    await removeTempDir(tmp, ended.left, run.env)
  }
  // reported only now: once a file is KILLED nothing of it may be left at the destination
  for (const p of ended.aborted) run.report(p.task, { ok: false, reason: ABORTED })
  return ended.again
}

interface BatchEnd {
  again: Planned[]
  aborted: Planned[]
  /** temporary copies known to be still there (stopped, or left for the streamed copy) */
  left: Copy[]
}

async function copyBatch(
  live: Planned[],
  copies: Map<Planned, Copy>,
  tmp: RootUrl,
  run: TpcRun,
  ended: BatchEnd,
): Promise<void> {
  // killing the call is the only way to stop one of its files: it stops them all
  const kill = new AbortController()
  const aborted = new Set<Planned>()
  const listeners = live.map((p) => {
    const onAbort = (): void => {
      aborted.add(p)
      kill.abort()
    }
    // aborted while the directory was made: the event has passed
    if (p.task.signal.aborted) onAbort()
    else p.task.signal.addEventListener('abort', onAbort, { once: true })
    return () => p.task.signal.removeEventListener('abort', onAbort)
  })
  const timeoutMs = copyTimeoutMs(live.reduce((sum, p) => sum + p.task.file.size, 0))
  // no -f: the targets are new names in a new directory
  const args = ['--nopbar', '--tpc', 'only', '--parallel', String(live.length), '--cksum', 'adler32']
  const sources = live.map((p) => rootUrlString(p.src))
  const r = await runChild('xrdcp', [...args, ...sources, `${rootUrlString(tmp)}/`], {
    signal: kill.signal,
    env: run.env,
    timeoutMs,
  }).finally(() => {
    for (const remove of listeners) remove()
  })

  if (r.aborted) {
    await eachLimit(live, run.limit, async (p) => {
      const c = copies.get(p)!
      if (aborted.has(p)) {
        ended.aborted.push(p)
        ended.left.push(c)
        return
      }
      // stopped because another file of the call was aborted: keep it if it made it, else copy it again
      const v = await verifyCopy(p.task, c.part, run.env)
      if (v.kind === 'match') return placeVerified(c, v, run.env, run.report)
      ended.again.push(p)
      ended.left.push(c)
    })
    return
  }

  const perJob = new Map<number, string>()
  let general: string | undefined
  for (const line of r.stderr.split('\n')) {
    const job = /^Job #(\d+):\s*(.*)$/.exec(line.trim())
    if (job) perJob.set(Number(job[1]), job[2]!)
    else if (/\[(ERROR|FATAL)\]/.test(line)) general = line
  }
  // one listing for the sizes of all the copies, rather than one stat each
  const o = { scope: 'DESTINATION' as const, env: run.env }
  const parts = await rootListLong(rootUrlString(tmp), o).catch((err: unknown) => {
    // each file is then stat'ed on its own
    void err
    return undefined
  })
  if (parts === null) return lostDir(live, tmp, run, ended)
  const finalExists = finalListing(rootDirname(live[0]!.dst), run.env)
  await eachLimit(live, run.limit, async (p) => {
    const c = copies.get(p)!
    const name = path.posix.basename(p.dst.path)
    const listed: Listed = { finalExists: () => finalExists(c, name) }
    if (parts !== undefined) listed.part = parts?.get(name) ?? null
    let callReason: string | undefined
    if (r.timedOut) callReason = timeoutReason(timeoutMs)
    else {
      const own = perJob.get(live.indexOf(p) + 1)
      const line = own ?? general ?? (r.code === 0 ? undefined : errorLine(r.stderr, r.code, r.signal))
      if (line !== undefined)
        callReason = copyReason(errorLine(line, r.code, r.signal), r.code, c.src, c.part)
    }
    if (fallsBack(p, callReason, run)) {
      ended.left.push(c)
      return
    }
    await settle(c, callReason, run.env, run.report, listed)
  })
}

/**
 * The batch's directory is gone: another run's clean-up took it, still empty, for a dead batch's before xrdcp
 * looked at it (xrdcp then refuses: "target is not a directory"), so nothing was copied. The files go again.
 */
function lostDir(live: Planned[], tmp: RootUrl, run: TpcRun, ended: BatchEnd): void {
  for (const p of live) {
    p.lostDirs = (p.lostDirs ?? 0) + 1
    if (p.lostDirs < MAX_LOST_DIRS) ended.again.push(p)
    else {
      const reason = `DESTINATION [2] the temporary directory ${tmp.path} vanished before the copy, ${p.lostDirs} times`
      run.report(p.task, { ok: false, reason })
    }
  }
}

/**
 * Whether a file is at a final name of the batch's directory, from one listing made when first asked (only
 * files that may not replace one ask); when the listing fails, from a stat of the file.
 */
function finalListing(dir: RootUrl, env: Record<string, string>) {
  let names: Promise<Set<string> | null> | undefined
  return async (c: Copy, name: string): Promise<boolean> => {
    names ??= rootList(rootUrlString(dir), { scope: 'DESTINATION', env }).then(
      (list) => new Set(list ?? []),
      (err: unknown) => {
        // asked file by file instead
        void err
        return null
      },
    )
    const listed = await names
    if (listed) return listed.has(name)
    return (await endStat(c.dst, { scope: 'DESTINATION', env })) !== null
  }
}

/** Waits before each new try to remove a temporary directory that was not empty (ms). */
const TEMP_DIR_RETRY_MS = [100, 300, 1000]

/**
 * Removes the batch's temporary directory: first the copies known to be left in it, then the directory. When
 * it is not empty (the server side of a killed call may still be letting go of its file), whatever is inside
 * goes, and the directory is tried again a little later.
 */
async function removeTempDir(
  tmp: RootUrl,
  left: readonly Copy[],
  env: Record<string, string>,
): Promise<void> {
  const o = { scope: 'DESTINATION' as const, env }
  const url = rootUrlString(tmp)
  try {
    await rootRemoveMany(
      tmp.server,
      left.flatMap((c) => (c.part.kind === 'root' ? [c.part.url.path] : [])),
      o,
    )
    for (let i = 0; ; i++) {
      try {
        return await rootRmdir(url, o)
      } catch (err) {
        if (!(err instanceof StorageError && err.errno === 39) || i >= TEMP_DIR_RETRY_MS.length) throw err
      }
      await new Promise((resolve) => setTimeout(resolve, TEMP_DIR_RETRY_MS[i]))
      const inside = (await rootList(url, o)) ?? []
      await rootRemoveMany(
        tmp.server,
        inside.map((n) => path.posix.join(tmp.path, n)),
        o,
      )
    }
  } catch (err) {
    // the files are decided; the next run that owns one of them, or the killer, removes what stays
    process.emitWarning(`could not remove the temporary directory ${url}: ${(err as Error).message}`)
  }
}
