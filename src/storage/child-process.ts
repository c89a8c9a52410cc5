/**
 * Runs storage tools (xrdcp, xrdfs, gfal-*) as children that die with the agent (ARCHITECTURE.md invariant 10):
 * each is started through `setpriv --pdeathsig KILL`, so the kernel kills it when the agent dies, even by SIGKILL.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import path from 'node:path'

export interface ChildResult {
  /** exit code, or null when the child was ended by a signal */
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  durationMs: number
  /** killed because `timeoutMs` passed */
  timedOut: boolean
  /** killed because `signal` was aborted */
  aborted: boolean
}

export interface ChildOptions {
  /** kills the child (SIGKILL) when aborted */
  signal?: AbortSignal
  /** kills the child (SIGKILL) after this long */
  timeoutMs?: number
  /** added to the agent's environment (after the defaults below, so it may override them) */
  env?: Record<string, string>
  cwd?: string
  /** called with the child's pid once it is started (logs; tests that kill the agent) */
  onSpawn?: (pid: number) => void
}

/** Each stream keeps at most this much (its tail: tools print their error last). */
const MAX_OUTPUT_BYTES = 1024 * 1024

const live = new Set<ChildProcess>()
let setprivPath: string | null | undefined
let warnedNoSetpriv = false

/** The executable `name` in a directory of PATH, or null. */
export function findOnPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory: try the next one
    }
  }
  return null
}

function setpriv(): string | null {
  if (setprivPath === undefined) setprivPath = findOnPath('setpriv')
  if (setprivPath === null && !warnedNoSetpriv) {
    warnedNoSetpriv = true
    process.emitWarning(
      'setpriv (Debian package util-linux) not found: storage tools started by ASO will not die with it',
      { code: 'ASO_NO_SETPRIV' },
    )
  }
  return setprivPath
}

/** The environment every storage tool gets: fail fast on refused connections, a python that has gfal2. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // the default retries a refused or broken connection for ~10 minutes
  env.XRD_CONNECTIONRETRY = '1'
  // 300 s rather than the default 1800: long enough for a server-side checksum of a big file
  env.XRD_REQUESTTIMEOUT ??= '300'
  // the gfal-* scripts otherwise pick the first python3 on PATH, which may lack the Debian gfal2 modules
  env.GFAL_PYTHONBIN ??= '/usr/bin/python3'
  return { ...env, ...extra }
}

class OutputTail {
  private chunks: Buffer[] = []
  private bytes = 0

  push(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.bytes += chunk.length
    while (this.bytes > MAX_OUTPUT_BYTES && this.chunks.length > 1) {
      this.bytes -= this.chunks.shift()!.length
    }
  }

  text(): string {
    // xrootd's messages can carry NUL bytes
    return Buffer.concat(this.chunks).toString('utf8').replaceAll('\u0000', '')
  }
}

/**
 * Runs `command args` to its end and reports how it ended; a non-zero exit is a result, not an error.
 * A command that cannot be started ends with code 127 and the reason on stderr, as a shell would.
 */
export function runChild(
  command: string,
  args: readonly string[],
  opts: ChildOptions = {},
): Promise<ChildResult> {
  const started = performance.now()
  const elapsed = (): number => Math.round(performance.now() - started)
  if (opts.signal?.aborted) {
    return Promise.resolve({
      code: null,
      signal: 'SIGKILL',
      stdout: '',
      stderr: '',
      durationMs: 0,
      timedOut: false,
      aborted: true,
    })
  }
  const wrapper = setpriv()
  const [file, argv] = wrapper
    ? [wrapper, ['--pdeathsig', 'KILL', '--', command, ...args]]
    : [command, [...args]]

  return new Promise((resolve) => {
    const stdout = new OutputTail()
    const stderr = new OutputTail()
    let timedOut = false
    let aborted = false
    let spawnError: Error | undefined
    const child = spawn(file, argv, {
      env: childEnv(opts.env),
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    live.add(child)
    child.once('spawn', () => {
      if (child.pid !== undefined) opts.onSpawn?.(child.pid)
    })
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))

    const kill = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
    const onAbort = (): void => {
      aborted = true
      kill()
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true
            kill()
          }, opts.timeoutMs)

    child.on('error', (err) => {
      // spawn failed (e.g. ENOENT): 'close' still follows
      spawnError = err
    })
    child.on('close', (code, signal) => {
      live.delete(child)
      if (timer) clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      let err = stderr.text()
      if (spawnError) err += `${err === '' ? '' : '\n'}${command}: ${spawnError.message}`
      resolve({
        code: spawnError && code === null && signal === null ? 127 : code,
        signal,
        stdout: stdout.text(),
        stderr: err,
        durationMs: elapsed(),
        timedOut,
        aborted,
      })
    })
  })
}

/** Kills every child still running (agent shutdown); returns how many were signalled. */
export function killAllChildren(signal: NodeJS.Signals = 'SIGKILL'): number {
  let n = 0
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null && child.kill(signal)) n++
  }
  return n
}

/** How many children are running now. */
export function liveChildCount(): number {
  return live.size
}
