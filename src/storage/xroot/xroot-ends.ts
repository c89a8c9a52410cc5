/**
 * The two kinds of end an xrdcp copy has, a root:// URL or a local file, and what the xroot copy methods do
 * with them: stat, adler32, remove, move, and the run-unique temporary name a copy is written to first.
 */
import { mkdir, rename, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Endpoint } from '../../domain/endpoint.js'
import { normaliseAdler32 } from '../adler32.js'
import { runChild } from '../child-process.js'
import { partPath } from '../file/file-copy.js'
import { fsError } from '../file/file-protocol.js'
import { type StatResult, StorageError } from '../protocol.js'
import {
  errorLine,
  parseRootUrl,
  type RootUrl,
  rootAdler32,
  rootMove,
  rootRemove,
  rootStat,
  rootUrlString,
} from './root-protocol.js'

export type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

export const ABORTED = 'TRANSFER [125] Transfer aborted'
export const ROOT_SCHEMES = new Set(['root', 'xroot'])

/** A backstop against a hung xrdcp: 10 minutes plus 1 s per MiB (the server's own limits usually act first). */
export function copyTimeoutMs(bytes: number): number {
  return 600_000 + Math.ceil(bytes / 1_048_576) * 1000
}

export type End = { kind: 'root'; url: RootUrl } | { kind: 'file'; path: string }

export function endOf(ep: Endpoint, scope: Scope): End {
  if (ROOT_SCHEMES.has(ep.scheme)) return { kind: 'root', url: parseRootUrl(ep.url, scope) }
  if (ep.scheme === 'file') {
    try {
      return { kind: 'file', path: fileURLToPath(ep.url) }
    } catch (err) {
      throw new StorageError(scope, 22, `Not a local file URL: ${ep.url} (${(err as Error).message})`)
    }
  }
  throw new StorageError(scope, 93, `Protocol not supported by xrdcp: ${ep.scheme}`)
}

export const rootEnd = (url: RootUrl): End => ({ kind: 'root', url })
export const toolArg = (end: End): string => (end.kind === 'root' ? rootUrlString(end.url) : end.path)
export const endPath = (end: End): string => (end.kind === 'root' ? end.url.path : end.path)

/**
 * The run-unique name next to `end` that a copy is written to and verified at before it is moved into place,
 * `.NAME.<hex>.aso-part`: a writer still running after we gave up on it (a server-side TPC of a killed
 * agent, `autorm` of its failure) can only touch its own name, never the verified file.
 */
export function partOf(end: End): End {
  if (end.kind === 'file') return { kind: 'file', path: partPath(end.path) }
  return rootEnd({ server: end.url.server, path: partPath(end.url.path) })
}

export interface EndOptions {
  scope: Scope
  env: Record<string, string>
  signal?: AbortSignal
}

export async function endStat(end: End, o: EndOptions): Promise<StatResult | null> {
  if (end.kind === 'root') return rootStat(rootUrlString(end.url), o)
  try {
    const s = await stat(end.path)
    return { size: s.size, isDirectory: s.isDirectory() }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw fsError(err, o.scope, `stat ${end.path}`)
  }
}

export async function endAdler32(end: End, o: EndOptions): Promise<string> {
  if (end.kind === 'root') return rootAdler32(rootUrlString(end.url), o)
  // xrdadler32 caches the value in an xattr and prints "<hex> <path>"
  const r = await runChild('xrdadler32', [end.path], { env: o.env, signal: o.signal })
  const m = /^([0-9a-fA-F]{1,8})\s/.exec(r.stdout)
  if (r.code !== 0 || !m) {
    const text = r.stderr || r.stdout
    const errno = /no such file/i.test(text) ? 2 : /permission denied/i.test(text) ? 13 : 5
    throw new StorageError(o.scope, errno, errorLine(text, r.code, r.signal))
  }
  return normaliseAdler32(m[1]!)
}

export async function endRemove(end: End, o: EndOptions): Promise<void> {
  if (end.kind === 'root') return rootRemove(rootUrlString(end.url), o)
  try {
    await unlink(end.path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, o.scope, `remove ${end.path}`)
  }
}

/** Renames `from` to `to` on the same storage, replacing a file at `to`. */
export async function endMove(from: End, to: End, o: EndOptions): Promise<void> {
  if (from.kind === 'root' && to.kind === 'root') {
    return rootMove(rootUrlString(from.url), rootUrlString(to.url), o)
  }
  if (from.kind === 'file' && to.kind === 'file') {
    await rename(from.path, to.path).catch((err: unknown) => {
      throw fsError(err, o.scope, `rename into ${to.path}`)
    })
    return
  }
  throw new StorageError(o.scope, 18, `cannot move ${toolArg(from)} to ${toolArg(to)}`)
}

/** Creates the parent directory of a local destination (xrdcp makes a root:// one itself). */
export async function makeParent(end: End): Promise<void> {
  if (end.kind !== 'file') return
  const dir = path.dirname(end.path)
  await mkdir(dir, { recursive: true }).catch((err: unknown) => {
    throw fsError(err, 'DESTINATION', `mkdir ${dir}`)
  })
}

/** Removes what a failed or aborted copy left (its temporary name); never throws. */
export async function removeLeftover(end: End, env: Record<string, string>): Promise<void> {
  try {
    await endRemove(end, { scope: 'DESTINATION', env })
  } catch (err) {
    // the file's failure is already decided; a temporary copy that cannot be removed now (server down) is
    // removed by the next run that owns the destination, or by the killer's clean-up (invariant 10)
    process.emitWarning(`could not remove leftover destination ${toolArg(end)}: ${(err as Error).message}`)
  }
}
