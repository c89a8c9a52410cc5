/**
 * Stop signals at any moment of the CLI's life (issue 16 item 11): `aso serve` asked to stop while it is still
 * loading its modules stops gracefully once up, instead of dying by the signal's default action; every other
 * command still dies by a stop signal at once. A module hook (test/fixtures/hold-module-load.mjs) holds the load
 * of one command module until the test has sent its signal, so the moment is known, not timed.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, cliEnv, requireBuiltCli } from '../support/crash-agents.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const HOOK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/hold-module-load.mjs')

let lab: FileLab | null = null
afterEach(async () => {
  if (lab) await rm(lab.dir, { recursive: true, force: true })
  lab = null
})

async function until(what: string, ok: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Runs `aso ARGS` with the load of `holdModule` held, sends `signal` while it is held, then lets it load. */
async function signalWhileLoading(args: string[], holdModule: string, signal: NodeJS.Signals) {
  requireBuiltCli()
  lab = await makeFileLab()
  const gate = path.join(lab.dir, 'gate')
  const child = spawn(process.execPath, ['--import', HOOK, CLI, '--config', lab.configPath, ...args], {
    env: { ...cliEnv(), ASO_HOLD_MODULE: holdModule, ASO_HOLD_GATE: gate },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => {
    output += d
  })
  child.stderr.on('data', (d) => {
    output += d
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, sig) => resolve({ code, signal: sig })),
  )
  await until(`${holdModule} to start loading`, () => existsSync(`${gate}.loading`))
  child.kill(signal)
  // the signal is delivered before the module may load: the process either held it or is gone
  await until(
    'the signal to be taken',
    () => child.exitCode !== null || child.signalCode !== null || sigCaught(child.pid!, signal),
  )
  await writeFile(gate, '')
  return { exit: await exited, output: () => output, lab }
}

/** Whether the process has a handler for `signal` (SigCgt of /proc/PID/status). */
function sigCaught(pid: number, signal: NodeJS.Signals): boolean {
  const number = { SIGINT: 2, SIGTERM: 15 }[signal as 'SIGINT' | 'SIGTERM']
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m !== null && ((BigInt(`0x${m[1]}`) >> BigInt(number - 1)) & 1n) === 1n
  } catch {
    // the process is gone
    return false
  }
}

describe('stop signals during start-up', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`aso serve given ${signal} while it loads its modules comes up, then stops gracefully (exit 0)`, async () => {
      const { exit, output } = await signalWhileLoading(
        ['serve', '--agent-only', '--log-level', 'info'],
        '/cli/commands/serve.js',
        signal,
      )
      expect(exit, output()).toEqual({ code: 0, signal: null })
      const lines = output()
      expect(lines).toContain('agent started')
      expect(lines).toContain(`"signal":"${signal}"`)
      expect(lines).toContain('"msg":"stopped"')
    })
  }

  it('aso status given SIGTERM while it loads dies by SIGTERM at once, as a command without a graceful stop', async () => {
    const { exit, output } = await signalWhileLoading(['status'], '/cli/commands/status.js', 'SIGTERM')
    expect(exit, output()).toEqual({ code: null, signal: 'SIGTERM' })
  })
})
