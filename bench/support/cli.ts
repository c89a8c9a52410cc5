/**
 * The built CLI (dist/cli/main.js) as child processes, for benchmarks that time what a job's shell sees: one
 * command from spawn to exit, and `aso serve --insecure-dev` on a free loopback port.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { freePort } from '../../test/support/xrootd.js'

export const CLI = path.resolve('dist/cli/main.js')

export interface CliRun {
  code: number
  stdout: string
  stderr: string
  /** spawn to exit in ms (performance clock) */
  ms: number
  /** when the process ended (epoch ms, comparable with the store's times) */
  endedAt: number
}

/** Starts `node dist/cli/main.js ARGS`; `sawOnStderr` resolves once its standard error matches a pattern. */
export function startCli(args: string[], env: Record<string, string> = {}) {
  const t0 = performance.now()
  // ASO_SERVER cleared: a developer's environment must not send a local command to a real server
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ASO_SERVER: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const watchers: { re: RegExp; resolve: () => void }[] = []
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
    for (const w of watchers.splice(0)) {
      if (w.re.test(stderr)) w.resolve()
      else watchers.push(w)
    }
  })
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject)
    // 'close': the process has exited and its output is all read, as a shell's $(…) would see it
    child.on('close', (code) =>
      resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - t0, endedAt: Date.now() }),
    )
  })
  const sawOnStderr = (re: RegExp) =>
    new Promise<void>((resolve, reject) => {
      if (re.test(stderr)) return resolve()
      watchers.push({ re, resolve })
      done.then((r) => reject(new Error(`aso exited (${r.code}) before printing ${re}: ${r.stderr}`)), reject)
    })
  return { done, sawOnStderr }
}

/** Runs one CLI command to its end. */
export function runCli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  return startCli(args, env).done
}

/** `aso serve --insecure-dev` (agent and API in one process) for a config; resolves once /health answers 200. */
export async function startServe(configPath: string): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const args = ['--config', configPath, 'serve', '--insecure-dev', '--listen', `127.0.0.1:${port}`]
  const child = spawn(process.execPath, [CLI, ...args, '--log-level', 'warn'], {
    env: { ...process.env, ASO_SERVER: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let log = ''
  child.stdout.on('data', (d) => {
    log += d
  })
  child.stderr.on('data', (d) => {
    log += d
  })
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill('SIGTERM')
    await exited
  }
  const until = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`aso serve exited (${child.exitCode}):\n${log}`)
    const ok = await fetch(`${url}/health`).then(
      (r) => r.status === 200,
      () => false,
    )
    if (ok) return { url, stop }
    if (Date.now() > until) {
      await stop()
      throw new Error(`aso serve did not answer /health within 20 s:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}
