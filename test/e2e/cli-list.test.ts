/**
 * The CLI for users and operators, end to end on `aso serve --insecure-dev` (API and agent in one process):
 * `aso list --task T --state FAILED --json` gives ids that `aso explain` accepts, through the API and on the
 * local database; tasks, whoami; operators' link and weight commands with their audit rows; `aso wait`'s
 * heartbeat; errors as JSON under --json; tables within the terminal width.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const CLI = path.resolve('dist/cli/main.js')
const TASK = 'list-task'

interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Starts the built CLI as `user`; `sawOnStderr` resolves once its standard error matches. */
function startAso(args: string[], opts: { user?: string; env?: Record<string, string> } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ASO_USER: opts.user ?? 'alice', ASO_SERVER: '', ...opts.env },
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
  child.stdin.end()
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
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

const aso = (args: string[], opts: { user?: string; env?: Record<string, string> } = {}) =>
  startAso(args, opts).done

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length))

describe('aso list, tasks, whoami and the operator commands', () => {
  let lab: FileLab
  let serve: ChildProcess
  let url: string
  let serveLog = ''
  const remote = () => ['--server', url]
  const local = () => ['--config', lab.configPath]

  beforeAll(async () => {
    lab = await makeFileLab({
      config: { users: { alice: { groups: ['cms'] }, bob: {}, ops: { role: 'operator' } } },
    })
    const port = await freePort()
    url = `http://127.0.0.1:${port}`
    serve = spawn(
      process.execPath,
      [CLI, '--config', lab.configPath, 'serve', '--insecure-dev', '--listen', `127.0.0.1:${port}`],
      { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    serve.stdout!.on('data', (d) => {
      serveLog += d
    })
    serve.stderr!.on('data', (d) => {
      serveLog += d
    })
    const client = new AsoClient(url, { user: 'alice' })
    const until = Date.now() + 20_000
    try {
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
    } finally {
      await client.close()
    }
  })

  /** The audit list as the API shows it to an operator (the test opens no store: the built CLI owns its schema). */
  const auditRows = async () => {
    const res = await fetch(`${url}/api/v1/audit?limit=50`, { headers: { 'x-aso-user': 'ops' } })
    const body = (await res.json()) as { items: { actor: string; action: string; target: string }[] }
    return body.items.map((a) => [a.actor, a.action, a.target])
  }

  afterAll(async () => {
    if (serve && serve.exitCode === null) {
      const exited = new Promise((r) => serve.once('exit', r))
      serve.kill('SIGTERM')
      await exited
    }
  })

  it('lists the FAILED files of a task with ids that aso explain accepts (waiting with heartbeats)', async () => {
    // the link is held while the wait starts: its heartbeat shows before anything moves
    const paused = await aso([...remote(), 'link', 'pause', 'SITE_A', 'SITE_B', '--json'], { user: 'ops' })
    expect(paused.code, paused.stderr).toBe(0)
    expect(JSON.parse(paused.stdout)).toMatchObject({ link: 'SITE_A->SITE_B', paused: true })
    const lines: string[] = []
    for (let i = 0; i < 3; i++) {
      const name = `ok${i}.root`
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 300 + i)
      lines.push(
        JSON.stringify(
          lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name, task: TASK, ...w }),
        ),
      )
    }
    for (let i = 0; i < 2; i++) {
      // never written: the source is missing, a permanent failure
      const missing = { size: 7, adler32: '00000001' }
      const name = `missing${i}.root`
      lines.push(
        JSON.stringify(
          lab.request({
            user: 'alice',
            source: 'SITE_A',
            destination: 'SITE_B',
            name,
            task: TASK,
            ...missing,
          }),
        ),
      )
    }
    const file = path.join(lab.dir, 'list.jsonl')
    await writeFile(file, `${lines.join('\n')}\n`)
    const injected = await aso([...remote(), 'inject', file])
    expect(injected.code, injected.stderr).toBe(0)

    const waiting = startAso([...remote(), 'wait', '--task', TASK, '--timeout', '60s', '--heartbeat', '1s'])
    await waiting.sawOnStderr(/still waiting for task list-task after \d+s: 0 of 5 files terminal \(NEW 5\)/)
    const resumed = await aso([...remote(), 'link', 'resume', 'SITE_A', 'SITE_B'], { user: 'ops' })
    expect(resumed.stdout).toMatch(/^SITE_A->SITE_B: running, maxActive \d+/)
    const waited = await waiting.done
    expect(waited.code, waited.stderr).toBe(1)
    expect(waited.stdout).toMatch(/DONE 3 {2}FAILED 2/)

    for (const where of [remote(), local()]) {
      const listed = await aso([...where, 'list', '--task', TASK, '--state', 'FAILED', '--json'])
      expect(listed.code, listed.stderr).toBe(0)
      const page = JSON.parse(listed.stdout) as { items: { id: string; state: string }[]; next: null }
      expect(page.next).toBeNull()
      expect(page.items.map((r) => r.state)).toEqual(['FAILED', 'FAILED'])
      for (const { id } of page.items) {
        const explained = await aso([...where, 'explain', id])
        expect(explained.code, explained.stderr).toBe(0)
        expect(explained.stdout).toMatch(new RegExp(`^${id} {2}FAILED \\(permanent-source\\)`))
      }
    }

    // paging: one file a page, all of them with --all
    const first = JSON.parse(
      (await aso([...remote(), 'list', '--task', TASK, '--limit', '1', '--json'])).stdout,
    )
    expect(first.items).toHaveLength(1)
    const second = JSON.parse(
      (await aso([...remote(), 'list', '--task', TASK, '--limit', '1', '--cursor', first.next, '--json']))
        .stdout,
    )
    expect(second.items[0].id).not.toBe(first.items[0].id)
    const every = JSON.parse(
      (await aso([...local(), 'list', '--task', TASK, '--limit', '2', '--all', '--json'])).stdout,
    )
    expect(every.items).toHaveLength(5)
  }, 180_000)

  it('fits tables to the terminal width without cutting ids', async () => {
    const env = { COLUMNS: '80' }
    const listed = await aso([...remote(), 'list', '--task', TASK], { env })
    expect(listed.code, listed.stderr).toBe(0)
    expect(widest(listed.stdout)).toBeLessThanOrEqual(80)
    const ids = JSON.parse((await aso([...remote(), 'list', '--task', TASK, '--json'])).stdout).items.map(
      (r: { id: string }) => r.id,
    )
    for (const id of ids) expect(listed.stdout).toContain(id)
    const failed = JSON.parse(
      (await aso([...remote(), 'list', '--task', TASK, '--state', 'FAILED', '--json'])).stdout,
    ).items[0].id
    const explained = await aso([...remote(), 'explain', failed], { env })
    expect(widest(explained.stdout)).toBeLessThanOrEqual(80)
    expect(explained.stdout).toMatch(/reason: /)
    const wide = await aso([...remote(), 'explain', failed], { env: { COLUMNS: '250' } })
    expect(widest(wide.stdout)).toBeLessThanOrEqual(250)
  }, 120_000)

  it('shows tasks and who the caller is', async () => {
    const tasks = JSON.parse((await aso([...remote(), 'tasks', '--json'])).stdout)
    expect(tasks.items).toContainEqual(expect.objectContaining({ task: TASK, user: 'alice', total: 5 }))
    expect((await aso([...local(), 'tasks'])).stdout).toContain(TASK)
    const bobs = JSON.parse((await aso([...remote(), 'tasks', '--json'], { user: 'bob' })).stdout)
    expect(bobs.items).toEqual([])
    // status has no ids, so it says where they are
    const status = await aso([...remote(), 'status', '--task', TASK])
    expect(status.stdout).toContain("the FAILED files' ids: aso list --state FAILED --task list-task")
    const me = JSON.parse((await aso([...remote(), 'whoami', '--json'])).stdout)
    expect(me).toMatchObject({ name: 'alice', role: 'user', groups: ['cms'], method: 'insecure-dev' })
    const ops = JSON.parse((await aso([...local(), 'whoami', '--json'], { user: 'ops' })).stdout)
    expect(ops).toMatchObject({ name: 'ops', method: 'local' })
  }, 120_000)

  it('lets operators change links and weights, with audit rows; users are refused, in JSON too', async () => {
    const refused = await aso([...remote(), 'user', 'weight', 'alice', '5', '--json'])
    expect(refused.code).toBe(3)
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'forbidden' } })
    expect(refused.stderr.trim().split('\n')).toHaveLength(1)
    expect(refused.stderr).toMatch(/^aso: you are "alice" \(role user\): changing a user's weight needs/)

    const weighed = await aso([...remote(), 'user', 'weight', 'alice', '2', '--json'], { user: 'ops' })
    expect(JSON.parse(weighed.stdout)).toEqual({ user: 'alice', weight: 2 })
    const limited = await aso(
      [...local(), 'link', 'set', 'SITE_A', 'SITE_B', '--max-active', '7', '--json'],
      {
        user: 'ops',
      },
    )
    expect(JSON.parse(limited.stdout)).toEqual({ link: 'SITE_A->SITE_B', maxActive: 7, paused: false })
    const back = await aso([...remote(), 'link', 'set', 'SITE_A', 'SITE_B', '--max-active', 'default'], {
      user: 'ops',
    })
    expect(back.code, back.stderr).toBe(0)
    const rows = await auditRows()
    expect(rows).toContainEqual(['api:ops', 'user-weight', 'alice'])
    expect(rows).toContainEqual(['cli:ops', 'link-setting', 'SITE_A->SITE_B'])
    expect(rows).toContainEqual(['api:ops', 'link-setting', 'SITE_A->SITE_B'])
    expect(rows.filter((r) => r[0] === 'api:alice')).toEqual([])

    const unknown = await aso([...remote(), 'link', 'pause', 'SITE_A', 'T9_NOWHERE', '--json'], {
      user: 'ops',
    })
    expect(unknown.code).toBe(3)
    expect(JSON.parse(unknown.stdout)).toMatchObject({ error: { code: 'not-found' } })
  }, 120_000)

  it('prints an error as {"error": ...} on stdout under --json, keeping its line on stderr', async () => {
    const missing = await aso([...remote(), 'explain', '0'.repeat(32), '--json'])
    expect(missing.code).toBe(3)
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'not-found' } })
    expect(missing.stderr).toMatch(/^aso: no transfer with id 0{32}/)
    const usage = await aso([...local(), 'list', '--state', 'LOST', '--json'])
    expect(usage.code).toBe(3)
    expect(JSON.parse(usage.stdout)).toMatchObject({ error: { code: 'usage' } })
    const down = await aso(['--server', `http://127.0.0.1:${await freePort()}`, 'list', '--json'])
    expect(down.code).toBe(3)
    expect(JSON.parse(down.stdout)).toMatchObject({ error: { code: 'unavailable' } })
  }, 120_000)
})
