/**
 * Storage operations through the gfal2 command-line tools (`gfal-stat`, `gfal-sum`, `gfal-rm`), for every grid
 * protocol ASO has no client of its own for (`srm://`, `gsiftp://`, `dcap://`, `sftp://`, and `mock://` in tests);
 * docs/storage-notes.md §3. Each tool runs as a child that dies with the agent, with GFAL_PYTHONBIN set
 * (child-process.ts), killed when its time is up; its exit code is the errno.
 */
import { runChild } from '../child-process.js'
import { type ProtocolHandler, type StatResult, StorageError, type StorageOptions } from '../protocol.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

/** Schemes only gfal2 serves here. */
export const GFAL_ONLY_SCHEMES: readonly string[] = ['srm', 'gsiftp', 'dcap', 'sftp', 'mock']

/** A gfal-stat, gfal-sum or gfal-rm that has not answered by then is killed (a server that hangs). */
const TOOL_TIMEOUT_MS = 5 * 60_000

const ERRNO_TEXT: Record<number, string> = {
  2: 'No such file or directory',
  5: 'Input/output error',
  13: 'Permission denied',
  17: 'File exists',
  28: 'No space left on device',
  110: 'Connection timed out',
  122: 'Disk quota exceeded',
}

export interface GfalRun {
  code: number | null
  stdout: string
  stderr: string
}

export interface GfalOptions {
  signal?: AbortSignal
  env?: Record<string, string>
  timeoutMs?: number
  /** the end the command is about, for the scope of its failure */
  scope: Scope
}

/**
 * `SCOPE [errno] message` for a failed gfal tool: errno from its exit code, message from its
 * `gfal-xxx error: <errno> (<strerror>) - <detail>` line, scope from the detail's wording ("source",
 * "destination") when it names one end only, else `fallback`.
 */
export function gfalError(tool: string, run: GfalRun, fallback: Scope): StorageError {
  const lines = `${run.stderr}\n${run.stdout}`.split('\n').map((l) => l.trim())
  const line = lines.filter((l) => /^gfal-[\w-]+ error: /.test(l)).at(-1)
  const m = line ? /^gfal-[\w-]+ error: (\d+) \(([^)]*)\) - ([\s\S]*)$/.exec(line) : null
  const errno = m ? Number(m[1]) : run.code !== null && run.code > 0 && run.code < 256 ? run.code : 5
  const detail =
    m?.[3] ?? (lines.filter((l) => l !== '').at(-1) || (ERRNO_TEXT[errno] ?? `exit code ${run.code}`))
  // gfal2 says "User and source checksums do not match" for a source that is not what the job recorded
  if (/user and source checksums? do not match/i.test(detail)) {
    return new StorageError(
      'SOURCE',
      errno,
      `Source and user-defined ADLER32 checksum do not match (${tool}: ${detail})`,
    )
  }
  const source = /\bsource\b/i.test(detail)
  const destination = /\bdestination\b/i.test(detail)
  const scope = source && !destination ? 'SOURCE' : destination && !source ? 'DESTINATION' : fallback
  return new StorageError(scope, errno, `${tool}: ${detail}`)
}

/** Runs a gfal tool; throws a StorageError when it was killed (abort, timeout). */
export async function runGfal(tool: string, args: string[], o: GfalOptions): Promise<GfalRun> {
  const timeoutMs = o.timeoutMs ?? TOOL_TIMEOUT_MS
  const r = await runChild(tool, args, { signal: o.signal, env: o.env, timeoutMs })
  if (r.aborted) throw new StorageError('TRANSFER', 125, 'Transfer aborted')
  if (r.timedOut) throw new StorageError(o.scope, 110, `${tool} killed after ${timeoutMs / 1000} s`)
  if (r.code === 127) {
    throw new StorageError(
      o.scope,
      93,
      `${tool} cannot run (${r.stderr.trim().split('\n').at(-1)}): install the Debian packages gfal2-util-scripts python3-gfal2-util and the gfal2-plugin-* needed`,
    )
  }
  return { code: r.code, stdout: r.stdout, stderr: r.stderr }
}

/** Size and type from `gfal-stat` (`  Size: 1000\tregular file`). */
export function parseGfalStat(stdout: string): StatResult {
  const m = /^\s*Size:\s+(\d+)\s+(.*)$/m.exec(stdout)
  if (!m) throw new StorageError('TRANSFER', 5, `Unexpected gfal-stat output: ${stdout.trim()}`)
  return { size: Number(m[1]), isDirectory: /directory/i.test(m[2]!) }
}

const optsOf = (opts?: StorageOptions): GfalOptions => ({
  signal: opts?.signal,
  scope: opts?.scope ?? 'TRANSFER',
})

/** The gfal2 protocol handler for the schemes only gfal2 serves. */
export const gfalProtocol: ProtocolHandler = {
  schemes: GFAL_ONLY_SCHEMES,

  async stat(url, opts) {
    const o = optsOf(opts)
    const r = await runGfal('gfal-stat', [url], o)
    if (r.code === 2) return null
    if (r.code !== 0) throw gfalError('gfal-stat', r, o.scope)
    return parseGfalStat(r.stdout)
  },

  async adler32(url, opts) {
    const o = optsOf(opts)
    const r = await runGfal('gfal-sum', [url, 'ADLER32'], o)
    if (r.code !== 0) throw gfalError('gfal-sum', r, o.scope)
    const m = /\s([0-9a-fA-F]{1,8})\s*$/.exec(r.stdout.trim().split('\n').at(-1) ?? '')
    if (!m) throw new StorageError(o.scope, 5, `Unexpected gfal-sum output: ${r.stdout.trim()}`)
    return m[1]!.toLowerCase().padStart(8, '0')
  },

  async remove(url, opts) {
    const o = optsOf(opts)
    const r = await runGfal('gfal-rm', [url], o)
    // "MISSING", exit code 2: already gone
    if (r.code === 0 || r.code === 2) return
    throw gfalError('gfal-rm', r, o.scope)
  },
}
