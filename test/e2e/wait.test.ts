/**
 * The job layer's view, end to end: `aso serve --insecure-dev` (API and agent in one process) and the CLI
 * with `--server`. `aso wait` exits 0 (all DONE), 1 (some FAILED, reasons printed), 2 (timeout), 3 (could not
 * ask) and returns within 5 s of the last file of its task turning terminal (p50/p95 printed).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { isTerminal } from '../../src/domain/states.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const CLI = path.resolve('dist/cli/main.js')
const LINK = 'SITE_A->SITE_B'
const ROUNDS = 6
/** a link paused for the whole run: its files stay NEW */
const HELD = 'SITE_A->SITE_C'

interface Run {
  code: number
  stdout: string
  stderr: string
  /** when the process ended (epoch ms) */
  endedAt: number
}

/** Starts the built CLI; `sawOnStderr` resolves once its standard error matches a pattern. */
function startAso(args: string[], opts: { input?: string; user?: string } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ASO_USER: opts.user ?? 'alice', ASO_SERVER: '' },
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
  child.stdin.end(opts.input ?? '')
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, endedAt: Date.now() }))
  })
  return {
    done,
    sawOnStderr: (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        if (re.test(stderr)) return resolve()
        watchers.push({ re, resolve })
        done.then(
          (r) => reject(new Error(`aso exited (${r.code}) before printing ${re}: ${r.stderr}`)),
          reject,
        )
      }),
  }
}

function aso(args: string[], opts: { input?: string; user?: string } = {}): Promise<Run> {
  return startAso(args, opts).done
}

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

describe('aso wait and the CLI through --server', () => {
  let lab: FileLab
  let serve: ChildProcess
  let url: string
  let store: Store
  let client: AsoClient
  let files = 0
  let serveLog = ''

  const setPaused = async (paused: boolean) => {
    await store.setLinkSetting(LINK, { paused }, 'test', Date.now())
    // a submitter cycle that read the settings just before runs out (submitInterval is 100 ms)
    if (paused) await new Promise((r) => setTimeout(r, 300))
  }

  /** Writes `n` job outputs of a task and injects them through the API. */
  const injectTask = async (
    task: string,
    n: number,
    extra: Record<string, unknown>[] = [],
    destination = 'SITE_B',
  ) => {
    const requests: Record<string, unknown>[] = [...extra]
    for (let i = 0; i < n; i++) {
      const name = `w${++files}.root`
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 2000 + files)
      requests.push(lab.request({ user: 'alice', source: 'SITE_A', destination, name, task, ...w }))
    }
    const r = await client.inject(requests)
    expect(r.results.every((x) => x.status === 'created')).toBe(true)
    return r.results.map((x) => x.id!)
  }

  beforeAll(async () => {
    lab = await makeFileLab({
      sites: ['SITE_A', 'SITE_B', 'SITE_C'],
      config: { users: { alice: { groups: ['cms'] }, bob: {} } },
    })
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    serve = spawn(
      process.execPath,
      [
        CLI,
        '--config',
        lab.configPath,
        'serve',
        '--insecure-dev',
        '--listen',
        `127.0.0.1:${port}`,
        '--log-level',
        'warn',
      ],
      { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    serve.stdout!.on('data', (d) => {
      serveLog += d
    })
    serve.stderr!.on('data', (d) => {
      serveLog += d
    })
    client = new AsoClient(url, { user: 'alice' })
    const until = Date.now() + 20_000
    for (;;) {
      try {
        await client.whoami()
        break
      } catch (e) {
        if (Date.now() > until)
          throw new Error(`aso serve did not start: ${(e as Error).message}\n${serveLog}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    store = await openStore(`sqlite:${path.join(lab.dir, 'aso.db')}`)
    await store.setLinkSetting(HELD, { paused: true }, 'test', Date.now())
  })

  afterAll(async () => {
    await client?.close()
    await store?.close()
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r))
      serve.kill('SIGTERM')
      await exited
    }
  })

  it(`exits 0 once every file is DONE, within 5 s of the last one (${ROUNDS} rounds)`, async () => {
    const delays: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      await setPaused(true)
      const task = `wait-ok-${round}`
      const ids = await injectTask(task, 3)
      const waiting = startAso(['--server', url, 'wait', '--task', task, '--timeout', '30s'])
      // the files are held back until the wait is listening (its long-poll follows this line at once)
      await waiting.sawOnStderr(/waiting for task/)
      await new Promise((r) => setTimeout(r, 200))
      await setPaused(false)
      const run = await waiting.done
      expect(run.code, run.stderr).toBe(0)
      expect(run.stdout).toMatch(new RegExp(`task ${task}: 3 files, .*: DONE 3`))
      const ends = await Promise.all(
        ids.map(async (id) =>
          Math.max(...(await store.history(id)).filter((e) => isTerminal(e.to)).map((e) => e.at)),
        ),
      )
      delays.push(run.endedAt - Math.max(...ends))
    }
    const p50 = percentile(delays, 50)
    const p95 = percentile(delays, 95)
    process.stdout.write(
      `aso wait: delay from the last file terminal to exit: p50 ${p50} ms, p95 ${p95} ms (${ROUNDS} rounds, process exit included)\n`,
    )
    expect(Math.max(...delays)).toBeLessThan(5000)
  }, 60_000)

  it('exits 1 when some files FAILED, printing the reason and what to do', async () => {
    const missing = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_B',
      name: 'never-written.root',
      task: 'wait-failed',
      size: 7,
      adler32: '00000001',
    })
    await injectTask('wait-failed', 2, [missing])
    const run = await aso(['--server', url, 'wait', '--task', 'wait-failed', '--timeout', '30s'])
    expect(run.code, run.stderr).toBe(1)
    expect(run.stdout).toMatch(/DONE 2 {2}FAILED 1/)
    expect(run.stdout).toMatch(/FAILED \(permanent-source\) x1: .*never-written\.root/)
    expect(run.stdout).toMatch(/hint \(permanent-source\): /)
    const json = await aso(['--server', url, 'wait', '--task', 'wait-failed', '--json'])
    expect(json.code).toBe(1)
    expect(JSON.parse(json.stdout)).toMatchObject({
      result: 'failed',
      complete: true,
      states: { DONE: 2, FAILED: 1 },
    })
  })

  it('exits 2 when the timeout passes first', async () => {
    await injectTask('wait-timeout', 2, [], 'SITE_C')
    const run = await aso(['--server', url, 'wait', '--task', 'wait-timeout', '--timeout', '1s'])
    expect(run.code, run.stderr).toBe(2)
    expect(run.stdout).toMatch(/NEW 2/)
    expect(run.stderr).toMatch(/timed out after 1s: 0 of 2 files of task wait-timeout are terminal/)
  })

  it('exits 3 when it cannot ask: no server, no such task, someone else’s task', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`
    const down = await aso(['--server', closed, 'wait', '--task', 'x'])
    expect(down.code).toBe(3)
    expect(down.stderr).toMatch(
      /cannot reach ASO at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED.*is aso serve running/,
    )
    const none = await aso(['--server', url, 'wait', '--task', 'no-such-task'])
    expect(none.code).toBe(3)
    expect(none.stderr).toMatch(/no transfers in task "no-such-task"/)
    const foreign = await aso(['--server', url, 'wait', '--task', 'wait-failed'], { user: 'bob' })
    expect(foreign.code).toBe(3)
    // another user's task is answered as if it did not exist
    expect(foreign.stderr).toMatch(/no transfers in task "wait-failed"/)
  })

  it('runs inject, status, explain, kill and retry through the API', async () => {
    const name = 'cli-api.root'
    const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 500)
    const line = JSON.stringify(
      lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_C', name, task: 'cli-api', ...w }),
    )
    const bad = JSON.stringify({ ...JSON.parse(line), destinationLfn: '/store/user/bob/x.root' })
    const file = path.join(lab.dir, 'cli-api.jsonl')
    await writeFile(file, `${line}\n${bad}\n`)
    const inj = await aso(['--server', url, 'inject', file])
    expect(inj.code).toBe(1)
    const id = /^line 1: created ([0-9a-f]{32})$/m.exec(inj.stdout)?.[1]
    expect(id).toBeDefined()
    expect(inj.stdout).toMatch(/^line 2: rejected: destinationLfn: .*outside the namespace alice/m)
    const status = await aso(['--server', url, 'status', '--task', 'cli-api', '--json'])
    expect(JSON.parse(status.stdout)).toMatchObject({ total: 1, states: { NEW: 1 } })
    const explained = await aso(['--server', url, 'explain', id!])
    expect(explained.stdout).toMatch(/why: waiting: link SITE_A->SITE_C is paused by an operator/)
    expect(explained.stdout).toMatch(/injected by api:alice/)
    const k = await aso(['--server', url, 'kill', '--task', 'cli-api'])
    expect(k.stdout).toMatch(/^1 killed/)
    const r = await aso(['--server', url, 'retry', id!, '--json'])
    expect(JSON.parse(r.stdout)).toEqual({ retried: 1, refused: 0, notFound: [] })
  })
})
