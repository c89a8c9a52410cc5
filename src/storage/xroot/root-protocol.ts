/** Storage operations on `root://` and `xroot://` URLs through `xrdfs` (docs/storage-notes.md §1). */
import path from 'node:path'
import { runChild } from '../child-process.js'
import {
  type FreeSpace,
  type ProtocolHandler,
  type StatResult,
  StorageError,
  type StorageOptions,
} from '../protocol.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

/** A root URL split for the tools: `server` is `root://host:port`, `path` is absolute. */
export interface RootUrl {
  server: string
  path: string
}

/** Kill an `xrdfs` call that has not ended by then; the server's own limit is XRD_REQUESTTIMEOUT. */
const XRDFS_TIMEOUT_MS = 15 * 60_000

/** Splits `root://host:port//abs/path` (or with a single slash) into server and absolute path. */
export function parseRootUrl(url: string, scope: Scope = 'TRANSFER'): RootUrl {
  const m = /^x?root:\/\/([^/?#]+)(\/.*)$/.exec(url)
  if (!m) throw new StorageError(scope, 22, `Not a root:// URL: ${url}`)
  return { server: `root://${m[1]}`, path: m[2]!.replace(/^\/+/, '/') }
}

/** The URL form the tools read without ambiguity: `root://host:port//abs/path`. */
export function rootUrlString(u: RootUrl): string {
  return `${u.server}/${u.path}`
}

/** The parent directory of a root URL's path. */
export function rootDirname(u: RootUrl): RootUrl {
  return { server: u.server, path: path.posix.dirname(u.path) }
}

/** errno for an xrootd failure, from the tool's exit code and the error codes it printed. */
export function xrootErrno(code: number | null, text: string): number {
  if (text.includes('[3011]')) return 2
  if (text.includes('[3010]')) return 13
  if (text.includes('[3005]') || text.includes('[3018]')) return /exist/i.test(text) ? 17 : 39
  if (text.includes('[3013]') || /does not support third-party-copy/i.test(text)) return 95
  if (text.includes('[3009]')) return 28
  if (text.includes('[3021]')) return 122
  if (/Operation expired/i.test(text)) return 110
  if (code === 51 || /\[FATAL\] Connection error|Connection refused/i.test(text)) return 111
  // 52: authentication failed (proxy expired or refused)
  if (code === 52 || /Auth failed/i.test(text)) return 13
  return 5
}

/**
 * The line of a tool's output that says what went wrong, without xrdcp's prefixes (`Run: `, `Job #3: `);
 * falls back to the exit code.
 */
export function errorLine(stderr: string, code: number | null, signal: NodeJS.Signals | null): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Jobs total:/.test(l))
  const flagged = lines.filter((l) => /\[(ERROR|FATAL)\]/.test(l))
  const line = flagged.at(-1) ?? lines.at(-1)
  if (line !== undefined) return line.replace(/^(Run|Job #\d+):\s*/, '')
  return signal ? `killed by ${signal}` : `exit code ${code}`
}

export interface XrdfsOptions {
  signal?: AbortSignal
  env?: Record<string, string>
  scope?: Scope
}

/**
 * Runs `xrdfs SERVER args...` to its end; throws a StorageError (scope from opts) only when it was aborted or
 * timed out. `fail` makes the error of a call that ended with a non-zero code.
 */
async function xrdfsRun(server: string, args: string[], opts: XrdfsOptions) {
  const r = await runChild('xrdfs', [server, ...args], {
    signal: opts.signal,
    env: opts.env,
    timeoutMs: XRDFS_TIMEOUT_MS,
  })
  const scope = opts.scope ?? 'TRANSFER'
  if (r.aborted) throw new StorageError(scope, 125, 'Operation aborted')
  if (r.timedOut)
    throw new StorageError(scope, 110, `xrdfs ${args[0]} killed after ${XRDFS_TIMEOUT_MS / 1000} s`)
  const fail = (): StorageError => {
    const text = `${r.stderr}\n${r.stdout}`
    return new StorageError(
      scope,
      xrootErrno(r.code, text),
      errorLine(r.stderr || r.stdout, r.code, r.signal),
    )
  }
  return { code: r.code, stdout: r.stdout, fail }
}

/** Runs `xrdfs SERVER args...`; throws a StorageError (scope from opts) when it fails. */
async function xrdfs(server: string, args: string[], opts: XrdfsOptions): Promise<string> {
  const r = await xrdfsRun(server, args, opts)
  if (r.code !== 0) throw r.fail()
  return r.stdout
}

/** Parses `xrdfs stat` output (`Size:   12`, `Flags:  51 (XBitSet|IsDir|...)`). */
export function parseStat(stdout: string): StatResult {
  const size = /^Size:\s+(\d+)/m.exec(stdout)
  const flags = /^Flags:\s+(\d+)\s*(?:\(([^)]*)\))?/m.exec(stdout)
  if (!size) throw new StorageError('TRANSFER', 5, `Unexpected xrdfs stat output: ${stdout.trim()}`)
  return { size: Number(size[1]), isDirectory: flags?.[2]?.split('|').includes('IsDir') ?? false }
}

/** Size and type of what is at `url`, or null when nothing is there. */
export async function rootStat(url: string, opts: XrdfsOptions = {}): Promise<StatResult | null> {
  const u = parseRootUrl(url, opts.scope)
  try {
    return parseStat(await xrdfs(u.server, ['stat', u.path], opts))
  } catch (err) {
    if (err instanceof StorageError && err.errno === 2) return null
    throw err
  }
}

/** adler32 the server computes (or has cached), as 8 lowercase hex digits. */
export async function rootAdler32(url: string, opts: XrdfsOptions = {}): Promise<string> {
  const u = parseRootUrl(url, opts.scope)
  const out = await xrdfs(u.server, ['query', 'checksum', u.path], opts)
  const m = /adler32\s+([0-9a-fA-F]{1,8})\b/.exec(out)
  if (!m) throw new StorageError(opts.scope ?? 'TRANSFER', 5, `Unexpected checksum answer: ${out.trim()}`)
  return m[1]!.toLowerCase().padStart(8, '0')
}

/** Free bytes of the space holding `url` (`xrdfs spaceinfo`). */
export async function rootFreeBytes(url: string, opts: XrdfsOptions = {}): Promise<number> {
  const u = parseRootUrl(url, opts.scope)
  const out = await xrdfs(u.server, ['spaceinfo', u.path], opts)
  const m = /^Free:\s+(\d+)/m.exec(out)
  if (!m) throw new StorageError(opts.scope ?? 'TRANSFER', 5, `Unexpected spaceinfo answer: ${out.trim()}`)
  return Number(m[1])
}

/**
 * Free bytes under a directory (`xrdfs spaceinfo`, which XRootD answers per path: a separately mounted area
 * says its own figure); a directory not made yet is answered for its nearest existing parent. Null when the
 * server does not take the query.
 */
export async function rootFreeSpace(url: string, opts: XrdfsOptions = {}): Promise<FreeSpace | null> {
  let u = parseRootUrl(url, opts.scope)
  for (;;) {
    try {
      return { bytes: await rootFreeBytes(rootUrlString(u), opts), source: 'xrootd', url: rootUrlString(u) }
    } catch (err) {
      const parent = rootDirname(u)
      if (err instanceof StorageError && err.errno === 2 && parent.path !== u.path) u = parent
      else if (err instanceof StorageError && err.errno === 95) return null
      else throw err
    }
  }
}

/** Removes a file; a file already gone is not an error. */
export async function rootRemove(url: string, opts: XrdfsOptions = {}): Promise<void> {
  const u = parseRootUrl(url, opts.scope)
  try {
    await xrdfs(u.server, ['rm', u.path], opts)
  } catch (err) {
    if (err instanceof StorageError && err.errno === 2) return
    throw err
  }
}

/** Removes several files of one server with one `xrdfs rm`; files already gone are not an error. */
export async function rootRemoveMany(
  server: string,
  paths: readonly string[],
  opts: XrdfsOptions = {},
): Promise<void> {
  if (paths.length === 0) return
  if (paths.length === 1) return rootRemove(`${server}/${paths[0]}`, opts)
  // with several paths xrdfs 5.5 prints `rm PATH : [SUCCESS]` or `rm PATH : [ERROR] ...` for each, and its
  // exit code is that of the last one to end: read the lines, not the code
  const r = await xrdfsRun(server, ['rm', ...paths], opts)
  const lines = r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^rm .* : \[(SUCCESS|ERROR)\]/.test(l))
  // no line at all: the call itself failed (connection refused, say)
  if (lines.length === 0 && r.code !== 0) throw r.fail()
  const failed = lines.filter((l) => /\[ERROR\]/.test(l) && !/no such file/i.test(l))
  if (failed.length === 0) return
  const errno = /permission denied/i.test(failed[0]!) ? 13 : 5
  throw new StorageError(
    opts.scope ?? 'TRANSFER',
    errno,
    `${failed.length} of ${paths.length} files not removed: ${failed[0]}`,
  )
}

/** Renames a file within one server; an existing file at `toUrl` is replaced (XRootD 5.5 does not refuse). */
export async function rootMove(fromUrl: string, toUrl: string, opts: XrdfsOptions = {}): Promise<void> {
  const from = parseRootUrl(fromUrl, opts.scope)
  const to = parseRootUrl(toUrl, opts.scope)
  if (from.server !== to.server) {
    throw new StorageError(opts.scope ?? 'TRANSFER', 18, `cannot move across servers: ${fromUrl} -> ${toUrl}`)
  }
  await xrdfs(from.server, ['mv', from.path, to.path], opts)
}

/** The names in a directory (`xrdfs ls`), or null when there is no such directory. */
export async function rootList(dirUrl: string, opts: XrdfsOptions = {}): Promise<string[] | null> {
  const u = parseRootUrl(dirUrl, opts.scope)
  try {
    const out = await xrdfs(u.server, ['ls', u.path], opts)
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .map((l) => path.posix.basename(l))
  } catch (err) {
    if (err instanceof StorageError && err.errno === 2) return null
    throw err
  }
}

/**
 * Size and type of each entry of a directory, by name, from one `xrdfs ls -l` (lines like
 * `-rw-r--r-- xrootd xrootd 4 2026-11-25 18:07:16 /d/f1`); null when there is no such directory.
 */
export async function rootListLong(
  dirUrl: string,
  opts: XrdfsOptions = {},
): Promise<Map<string, StatResult> | null> {
  const u = parseRootUrl(dirUrl, opts.scope)
  let out: string
  try {
    out = await xrdfs(u.server, ['ls', '-l', u.path], opts)
  } catch (err) {
    if (err instanceof StorageError && err.errno === 2) return null
    throw err
  }
  const entries = new Map<string, StatResult>()
  for (const line of out.split('\n')) {
    const tokens = line.trim().split(/\s+/)
    const date = tokens.findIndex((t) => /^\d{4}-\d\d-\d\d$/.test(t))
    const size = Number(tokens[date - 1])
    if (date < 1 || !Number.isSafeInteger(size) || tokens.length < date + 3) continue
    const name = path.posix.basename(tokens.slice(date + 2).join(' '))
    entries.set(name, { size, isDirectory: tokens[0]!.startsWith('d') })
  }
  return entries
}

/** Removes an empty directory; one already gone is not an error, one not empty is (errno 39). */
export async function rootRmdir(dirUrl: string, opts: XrdfsOptions = {}): Promise<void> {
  const u = parseRootUrl(dirUrl, opts.scope)
  try {
    await xrdfs(u.server, ['rmdir', u.path], opts)
  } catch (err) {
    if (err instanceof StorageError && err.errno === 2) return
    throw err
  }
}

/** Creates a directory and its missing parents. */
export async function rootMkdirs(dirUrl: string, opts: XrdfsOptions = {}): Promise<void> {
  const u = parseRootUrl(dirUrl, opts.scope)
  try {
    await xrdfs(u.server, ['mkdir', '-p', u.path], opts)
  } catch (err) {
    // XRootD 5.5 answers [3018] "file exists" when the directory exists with another mode than the one
    // asked (0750), e.g. 0755 as a third-party copy creates it: a directory there is what we wanted
    if (err instanceof StorageError && err.errno === 17 && (await rootStat(dirUrl, opts))?.isDirectory) return
    throw err
  }
}

export interface RootProtocolHandler extends ProtocolHandler {
  /** creates a directory and its missing parents */
  mkdirs(dirUrl: string, opts?: StorageOptions): Promise<void>
}

/** The `root`/`xroot` protocol handler. */
export const rootProtocol: RootProtocolHandler = {
  schemes: ['root', 'xroot'],
  stat: (url, opts) => rootStat(url, opts),
  adler32: (url, opts) => rootAdler32(url, opts),
  remove: (url, opts) => rootRemove(url, opts),
  freeSpace: (url, opts) => rootFreeSpace(url, opts),
  mkdirs: (dirUrl, opts) => rootMkdirs(dirUrl, opts),
}
