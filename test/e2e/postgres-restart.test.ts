/**
 * PostgreSQL restarted in the middle of a run (issue 6): three `aso serve` on one server, which goes away for
 * longer than an agent's lease and comes back. The agents reconnect by themselves (the pool's error event is
 * handled, calls fail as unavailable and are retried), none declares another dead for the heartbeats the
 * outage cost (so none is fenced and none takes over another's jobs), and the run finishes as if nothing had
 * happened: every file DONE on its first attempt, in one engine job, intact, links within limits.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { CLI, cliEnv, logTail, requireBuiltCli } from '../support/crash-agents.js'
import { checkRun, Fleet, failedOrKilled, makePgLab, type PgLab, unfinished } from '../support/pg-fleet.js'
import { startTestPostgres, type TestPostgres } from '../support/postgres.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const execFileP = promisify(execFile)

/** Runs the built CLI; resolves with its exit code and output (a non-zero exit is not an error here). */
async function aso(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(process.execPath, [CLI, ...args], { env: cliEnv(), maxBuffer: 16 << 20 })
    return { code: 0, ...r }
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string }
    return { code: x.code, stdout: x.stdout, stderr: x.stderr }
  }
}

let server: TestPostgres | null = null
let lab: PgLab | null = null
let fleet: Fleet | null = null

afterEach(async () => {
  await fleet?.killAll()
  await lab?.close()
  await server?.remove()
  fleet = null
  lab = null
  server = null
})

const LIMITS = { default: 30 }

describe('PostgreSQL restarted mid-run', () => {
  it('three agents reconnect by themselves and finish: nothing lost, doubled, charged or taken over', async () => {
    requireBuiltCli()
    server = await startTestPostgres()
    const s = server
    lab = await makePgLab({
      server: s,
      database: 'aso',
      fileCount: 800,
      links: { default: { maxActive: LIMITS.default, maxFilesPerJob: 10 } },
    })
    const l = lab
    const f = new Fleet(l)
    fleet = f
    for (let slot = 0; slot < 3; slot++) f.start(slot)
    const start = Date.now()

    const exitedOnItsOwn = () => f.lives.find((p) => p.exitAt !== null && p.killedAt === null)
    const done = async () =>
      Number(
        (await l.query<{ n: string }>(`select count(*) as n from transfers where state = 'DONE'`))[0]?.n ?? 0,
      )

    // two restarts, each with the server gone for longer than the lease (5 s), while copies are in flight
    const restarts: { at: number; doneBefore: number; downMs: number }[] = []
    for (const threshold of [150, 450]) {
      while ((await done()) < threshold) {
        if (Date.now() - start > 90_000) throw new Error(`only ${await done()} files DONE after 90 s`)
        await sleep(50)
      }
      const doneBefore = await done()
      const down = Date.now()
      await s.stop()
      await sleep(6000)
      await s.start()
      // the test's own connection was cut too
      await l.reconnect()
      restarts.push({ at: Date.now() - start, doneBefore, downMs: Date.now() - down })
    }
    while ((await unfinished(l)) > 0) {
      const gone = exitedOnItsOwn()
      if (gone) throw new Error(`aso serve ${gone.pid} exited on its own:\n${logTail(gone.logPath)}`)
      if ((await failedOrKilled(l)) > 0)
        throw new Error(`transfers FAILED or KILLED:\n${logTail(f.slots[0]!.logPath)}`)
      if (Date.now() - start > 180_000)
        throw new Error(`run not finished after 180 s:\n${logTail(f.slots[0]!.logPath)}`)
      await sleep(100)
    }
    const seconds = (Date.now() - start) / 1000
    expect(exitedOnItsOwn()).toBeUndefined()
    // both restarts landed mid-run
    expect(restarts.map((r) => r.doneBefore < l.files.length)).toEqual([true, true])
    // `aso agents`: the same three, live, one of them holding the leader lease (the singleton loops)
    const listed = await aso(['--config', l.configPath, 'agents', '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    const view = JSON.parse(listed.stdout) as { agents: { pid: number; live: boolean; leases: string[] }[] }
    expect(view.agents.map((a) => a.pid).sort()).toEqual(f.slots.map((p) => p.pid).sort())
    expect(view.agents.every((a) => a.live)).toBe(true)
    expect(view.agents.filter((a) => a.leases.includes('leader'))).toHaveLength(1)
    const table = await aso(['--config', l.configPath, 'agents'])
    expect(table.stdout).toMatch(/leader lease/)
    const exits = await f.stopAll()
    expect(exits, 'graceful stop of every agent').toEqual(exits.map(() => ({ code: 0, signal: null })))

    const check = await aso(['--config', l.configPath, 'db', 'check'])
    expect([check.code, check.stdout]).toEqual([0, expect.stringMatching(/schema is up to date/)])
    const result = await checkRun(l, LIMITS)
    expect(result.problems.slice(0, 30), `${result.problems.length} problems`).toEqual([])
    // nobody died, so nobody's work was taken over, and the same three agents ran throughout
    expect(result.takeovers).toBe(0)
    expect(f.lives).toHaveLength(3)
    for (const p of f.lives) {
      const log = readFileSync(p.logPath, 'utf8')
      expect(log, `agent ${p.pid} lost its connections`).toContain(
        'PostgreSQL connection lost; reconnecting with backoff',
      )
      expect(log, `agent ${p.pid} reconnected`).toContain('PostgreSQL reachable again')
      expect(log).not.toContain('declared dead')
    }
    console.log(
      `PostgreSQL restarts: ${restarts.map((r) => `at ${(r.at / 1000).toFixed(1)} s (${r.doneBefore} DONE before, down ${(r.downMs / 1000).toFixed(1)} s)`).join(', ')}; ` +
        `${l.files.length} files DONE in ${seconds.toFixed(1)} s by the same 3 agents`,
    )
  }, 300_000)

  it('runs the demo on PostgreSQL (aso demo --db postgres://…), in a schema of its own it drops afterwards', async () => {
    requireBuiltCli()
    server = await startTestPostgres()
    const url = await server.createDatabase('demo')
    const r = await aso(['--db', url, 'demo', '--files', '100', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const summary = JSON.parse(r.stdout) as {
      total: number
      surprises: string[]
      states: Record<string, number>
    }
    expect(summary.total).toBe(100)
    expect(summary.surprises).toEqual([])
    const schemas = await server.query(
      `select nspname from pg_namespace where nspname like 'aso_demo%'`,
      'demo',
    )
    expect(schemas.rows).toEqual([])
  }, 120_000)
})
