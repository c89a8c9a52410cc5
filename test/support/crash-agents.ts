/**
 * Helpers of the crash test (test/e2e/crash.test.ts): `aso serve` as a real child process that can be
 * SIGKILLed, and a look at /proc to prove that nothing it started outlives it (invariant 10).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The built CLI (`npm run build`); the crash test runs it as `node dist/cli/main.js`. */
export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli/main.js')

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm test does)`)
}

/**
 * The environment of the CLI children: ours without `ASO_*`, which the CLI reads as configuration overrides
 * (the lab's aso.yaml is the whole configuration; ASO_CRASH_SEED and the like are for the test only).
 */
export function cliEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('ASO_')))
}

/** One line of /proc/PID/stat, the fields we need. */
export interface ProcStat {
  pid: number
  comm: string
  state: string
  ppid: number
  pgrp: number
  session: number
  /** clock ticks after boot: with the pid, identifies a process even if the pid is reused */
  startTime: string
}

/** Parses /proc/PID/stat; null when the process is gone. */
export function procStat(pid: number): ProcStat | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    // gone (ENOENT), or vanished while we read (ESRCH)
    return null
  }
  // comm is in parentheses and may itself contain spaces and parentheses: split after the last ')'
  const open = text.indexOf('(')
  const close = text.lastIndexOf(')')
  const rest = text
    .slice(close + 2)
    .trim()
    .split(' ')
  // rest[0] is field 3 (state), rest[k] is field k + 3
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: Number(rest[1]),
    pgrp: Number(rest[2]),
    session: Number(rest[3]),
    startTime: rest[19] ?? '',
  }
}

/** Every process of the system (the thread-group leaders /proc lists). */
export function allProcs(): ProcStat[] {
  const out: ProcStat[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const s = procStat(Number(name))
    if (s) out.push(s)
  }
  return out
}

/**
 * Processes tied to `pid`: its children (ppid), and members of its process group or session (the agent is
 * started detached, so it leads both, and whatever it starts inherits them unless it detaches itself).
 */
export function relatedTo(pid: number): ProcStat[] {
  return allProcs().filter((p) => p.pid !== pid && (p.ppid === pid || p.pgrp === pid || p.session === pid))
}

export interface ServeProcess {
  /** 0 for the first run, 1 after the first kill, … */
  index: number
  pid: number
  spawnAt: number
  /** from /proc: tells this process from a later one that gets its pid */
  startTime: string | null
  logPath: string
  /** set once the process has exited and been reaped */
  exitAt: number | null
  exit: { code: number | null; signal: NodeJS.Signals | null } | null
  /** when we sent SIGKILL (null: never killed) */
  killedAt: number | null
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  child: ChildProcess
}

/** Starts `aso --config CONFIG serve`, its output appended to `logPath`. */
export function startServe(opts: { configPath: string; logPath: string; index: number }): ServeProcess {
  const fd = openSync(opts.logPath, 'a')
  const spawnAt = Date.now()
  let child: ChildProcess
  try {
    child = spawn(process.execPath, [CLI, '--config', opts.configPath, 'serve', '--log-level', 'info'], {
      // its own process group and session: the orphan check can find whatever it starts
      detached: true,
      stdio: ['ignore', fd, fd],
      env: cliEnv(),
    })
  } finally {
    closeSync(fd)
  }
  if (child.pid === undefined) throw new Error('could not start aso serve')
  const p: ServeProcess = {
    index: opts.index,
    pid: child.pid,
    spawnAt,
    startTime: procStat(child.pid)?.startTime ?? null,
    logPath: opts.logPath,
    exitAt: null,
    exit: null,
    killedAt: null,
    child,
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        p.exitAt = Date.now()
        p.exit = { code, signal }
        resolve({ code, signal })
      })
    }),
  }
  return p
}

/** The last lines of a log, for error messages. */
export function logTail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/**
 * SIGKILLs the agent, waits until it is gone (exited and reaped), and returns every process it had started
 * that is still alive: children seen just before the kill (matched by pid and start time, as the kernel
 * re-parents orphans), plus anything still in its process group or session. Zombies do not count.
 */
export async function sigkillAndReap(p: ServeProcess, timeoutMs = 10_000): Promise<ProcStat[]> {
  const before = relatedTo(p.pid)
  p.killedAt = Date.now()
  process.kill(p.pid, 'SIGKILL')
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`agent ${p.pid} still alive ${timeoutMs} ms after SIGKILL`)),
      timeoutMs,
    )
  })
  try {
    await Promise.race([p.exited, timeout])
  } finally {
    clearTimeout(timer)
  }
  if (p.exit?.signal !== 'SIGKILL')
    throw new Error(`agent ${p.pid} ended by ${JSON.stringify(p.exit)}, not SIGKILL`)
  const gone = procStat(p.pid)
  if (gone && gone.startTime === p.startTime) throw new Error(`agent ${p.pid} is still in /proc after exit`)
  // the kernel sends the parent-death signals (setpriv --pdeathsig KILL) as the agent exits: give the
  // children a moment to die, then look (a zombie is dead: only its exit status waits to be collected)
  const alive = (s: ProcStat | null): s is ProcStat => s !== null && s.state !== 'Z' && s.state !== 'X'
  const look = (): ProcStat[] => {
    const found: ProcStat[] = []
    for (const c of before) {
      const now = procStat(c.pid)
      if (alive(now) && now.startTime === c.startTime) found.push(now)
    }
    for (const r of relatedTo(p.pid)) if (alive(r) && !found.some((f) => f.pid === r.pid)) found.push(r)
    return found
  }
  const until = Date.now() + 500
  let found = look()
  while (found.length > 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 25))
    found = look()
  }
  return found
}

/** Stops a process we started, if it still runs (test clean-up). */
export async function ensureStopped(p: ServeProcess | null | undefined): Promise<void> {
  if (!p || p.exitAt !== null) return
  try {
    process.kill(p.pid, 'SIGKILL')
  } catch {
    // already gone
  }
  await Promise.race([p.exited, new Promise((r) => setTimeout(r, 5000))])
}

/** SIGTERM, then how the process exited, or a message when it is still running after `timeoutMs`. */
export async function stopGracefully(
  p: ServeProcess,
  timeoutMs = 30_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null } | string> {
  process.kill(p.pid, 'SIGTERM')
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    p.exited,
    new Promise<string>((r) => {
      timer = setTimeout(() => r(`still running ${timeoutMs / 1000} s after SIGTERM`), timeoutMs)
    }),
  ]).finally(() => clearTimeout(timer))
}
