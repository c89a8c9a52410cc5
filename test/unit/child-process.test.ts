import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killAllChildren, liveChildCount, runChild } from '../../src/storage/child-process.js'

const moduleUrl = pathToFileURL(
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src/storage/child-process.ts'),
).href

let dir: string
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-child-'))
})
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** A process that has exited (a zombie not yet reaped counts as gone). */
function isGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    // no /proc entry: the process is gone
    return true
  }
}

describe('runChild', () => {
  it('kills its child when the parent process is SIGKILLed', async () => {
    const script = path.join(dir, 'parent.mts')
    await writeFile(
      script,
      [
        `import { runChild } from ${JSON.stringify(moduleUrl)}`,
        `void runChild('sleep', ['60'], { onSpawn: (pid) => console.log('child', pid) })`,
        'setInterval(() => {}, 1000)',
        '',
      ].join('\n'),
    )
    const parent = spawn(process.execPath, ['--import', 'tsx', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const childPid = await new Promise<number>((resolve, reject) => {
      let out = ''
      parent.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const m = /child (\d+)/.exec(out)
        if (m) resolve(Number(m[1]))
      })
      parent.once('exit', (code) => reject(new Error(`parent exited (${code}) before starting its child`)))
      setTimeout(() => reject(new Error('parent did not start its child in 20 s')), 20_000)
    })
    expect(isGone(childPid)).toBe(false)
    const parentGone = new Promise((resolve) => parent.once('exit', resolve))
    parent.kill('SIGKILL')
    await parentGone
    const deadline = Date.now() + 2000
    while (!isGone(childPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    expect(isGone(childPid), `child ${childPid} outlived its parent`).toBe(true)
  })

  it('kills the child when the timeout passes', async () => {
    const r = await runChild('sleep', ['30'], { timeoutMs: 200 })
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: true, aborted: false })
    expect(r.durationMs).toBeLessThan(5000)
  })

  it('kills the child when the signal is aborted', async () => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 200)
    const r = await runChild('sleep', ['30'], { signal: ac.signal })
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', timedOut: false, aborted: true })
    expect(r.durationMs).toBeLessThan(5000)
    const before = await runChild('sleep', ['30'], { signal: ac.signal })
    expect(before).toMatchObject({ aborted: true, durationMs: 0 })
  })

  it('reports a non-zero exit without throwing, with NUL bytes stripped', async () => {
    const r = await runChild('sh', ['-c', 'printf "out"; printf "bad\\000 thing" >&2; exit 3'])
    expect(r).toMatchObject({ code: 3, signal: null, stdout: 'out', stderr: 'bad thing' })
  })

  it('ends with 127 (126 if a PATH directory is unreadable) for a command that does not exist', async () => {
    const r = await runChild('aso-no-such-command', [])
    expect([126, 127]).toContain(r.code)
    expect(r.stderr).toMatch(/aso-no-such-command/)
  })

  it('gives children the storage tools environment', async () => {
    const r = await runChild('sh', ['-c', 'echo "$XRD_CONNECTIONRETRY $GFAL_PYTHONBIN $EXTRA"'], {
      env: { EXTRA: 'x' },
    })
    expect(r.stdout.trim()).toBe('1 /usr/bin/python3 x')
  })

  it('kills every live child on shutdown', async () => {
    const runs = [runChild('sleep', ['30']), runChild('sleep', ['30'])]
    await new Promise((r) => setTimeout(r, 100))
    expect(liveChildCount()).toBe(2)
    expect(killAllChildren()).toBe(2)
    for (const r of await Promise.all(runs)) expect(r.signal).toBe('SIGKILL')
    expect(liveChildCount()).toBe(0)
  })
})
