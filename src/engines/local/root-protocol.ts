/** Storage operations on `root://` and `xroot://` URLs through `xrdfs` (storage-lab.md section 1). */
import path from 'node:path'
import { runChild } from './child-process.js'
import { type ProtocolHandler, type StatResult, StorageError, type StorageOptions } from './protocol.js'

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

/** Runs `xrdfs SERVER args...`; throws a StorageError (scope from opts) when it fails. */
async function xrdfs(server: string, args: string[], opts: XrdfsOptions): Promise<string> {
  const r = await runChild('xrdfs', [server, ...args], {
    signal: opts.signal,
    env: opts.env,
    timeoutMs: XRDFS_TIMEOUT_MS,
  })
  const scope = opts.scope ?? 'TRANSFER'
  if (r.aborted) throw new StorageError(scope, 125, 'Operation aborted')
  if (r.timedOut)
    throw new StorageError(scope, 110, `xrdfs ${args[0]} killed after ${XRDFS_TIMEOUT_MS / 1000} s`)
  if (r.code !== 0) {
    const text = `${r.stderr}\n${r.stdout}`
    throw new StorageError(scope, xrootErrno(r.code, text), errorLine(r.stderr || r.stdout, r.code, r.signal))
  }
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
  mkdirs: (dirUrl, opts) => rootMkdirs(dirUrl, opts),
}
