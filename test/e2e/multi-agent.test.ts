/**
 * Scale-out (issue 6): three `aso serve` processes share one PostgreSQL and the built-in engine, on file://
 * sites plus a share through two real XRootD servers; one agent is SIGKILLed every second or two and restarted.
 * At the end every file is DONE on its first attempt, each attempt ran in exactly one engine job (a crash
 * costs no new job: the successor resubmits the same id), every copy is intact, and no link ever had more
 * files in flight than its limit, all agents together (the history replayed in commit order). A small user
 * injected last is served early: fair share holds across agents.
 *
 * Runs the built CLI (`npm test` builds it) inside the test network namespace (XRootD). `ASO_SOAK=1` adds the
 * 5,000-file run; `ASO_PG_KEEP=1` keeps the lab directory (agents' logs).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { logTail, requireBuiltCli, sigkillAndReap } from '../support/crash-agents.js'
import { checkRun, Fleet, failedOrKilled, makePgLab, type PgLab, unfinished } from '../support/pg-fleet.js'
import { startTestPostgres, type TestPostgres } from '../support/postgres.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../support/xrootd.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    // ESRCH: no such process
    void err
    return false
  }
}

let server: TestPostgres | null = null
let sites: XrootdSite[] = []
let base: string | null = null
let lab: PgLab | null = null
let fleet: Fleet | null = null

afterEach(async () => {
  await fleet?.killAll()
  await lab?.close()
  await Promise.all(sites.map((s) => s.stop()))
  await server?.remove()
  if (base) await rm(base, { recursive: true, force: true })
  base = null
  fleet = null
  lab = null
  sites = []
  server = null
})

const LIMITS = { default: 40, 'SITE_A->SITE_B': 40, 'XRD_A->XRD_B': 12 }

async function runScaleOut(s: { files: number; xroot: number; kills: number; budgetMs: number }) {
  requireBuiltCli()
  requireXrootd()
  server = await startTestPostgres()
  base = await mkdtemp(path.join(tmpdir(), 'aso-multi-xrd-'))
  const [A, B] = await Promise.all([
    startXrootdSite({ name: 'XRD_A', baseDir: base }),
    startXrootdSite({ name: 'XRD_B', baseDir: base }),
  ])
  sites = [A, B]
  const setup = Date.now()
  lab = await makePgLab({
    server,
    database: 'aso',
    fileCount: s.files,
    carolCount: 20,
    xroot: { A, B },
    xrootCount: s.xroot,
    links: {
      default: { maxActive: LIMITS.default, maxFilesPerJob: 10 },
      'XRD_A->XRD_B': { maxActive: LIMITS['XRD_A->XRD_B'], maxFilesPerJob: 12 },
    },
  })
  const l = lab
  const f = new Fleet(l)
  fleet = f
  const setupSeconds = (Date.now() - setup) / 1000
  const start = Date.now()
  const deadline = start + s.budgetMs
  const check = (what: string) => {
    for (const p of f.slots) {
      if (p.exitAt !== null && p.killedAt === null)
        throw new Error(`aso serve ${p.pid} exited on its own ${what}:\n${logTail(p.logPath)}`)
    }
    if (Date.now() > deadline) throw new Error(`run over its ${s.budgetMs} ms budget ${what}`)
  }
  for (let slot = 0; slot < 3; slot++) f.start(slot)

  // the agent lives this run really killed: each was running when signalled and died of that SIGKILL
  const killed = new Set<string>()
  let killsInFlight = 0
  const inFlight = async () =>
    Number(
      (
        await l.query<{ n: string }>(
          `select count(*) as n from transfers where state in ('SUBMITTING', 'SUBMITTED', 'KILLING')`,
        )
      )[0]?.n ?? 0,
    )
  for (let k = 0; k < s.kills; k++) {
    const slot = k % 3
    const victim = f.slots[slot]!
    while (!(await f.registered(victim))) {
      check('before it registered')
      await sleep(10)
    }
    // most kills land amid copies; every fourth right after the agent came up, while it is still recovering
    await sleep(k % 4 === 3 ? 50 + ((k * 37) % 200) : 900 + ((k * 577) % 1100))
    check(`before kill ${k + 1}`)
    if ((await inFlight()) > 0) killsInFlight++
    const runningBefore = victim.exitAt === null && isRunning(victim.pid)
    const survivors = await sigkillAndReap(victim)
    expect(survivors, `processes that outlived agent ${victim.pid}`).toEqual([])
    if (runningBefore && victim.exit?.signal === 'SIGKILL') killed.add(`${victim.pid}@${victim.startTime}`)
    f.start(slot)
  }
  while ((await unfinished(l)) > 0) {
    if ((await failedOrKilled(l)) > 0)
      throw new Error(`transfers FAILED or KILLED:\n${logTail(f.slots[0]!.logPath)}`)
    check('while finishing')
    await sleep(100)
  }
  const seconds = (Date.now() - start) / 1000
  const exits = await f.stopAll()
  expect(exits, 'graceful stop of every agent').toEqual(exits.map(() => ({ code: 0, signal: null })))

  const result = await checkRun(l, LIMITS)
  expect(result.problems.slice(0, 30), `${result.problems.length} problems`).toEqual([])
  // fair share across agents: carol's 20 files, injected after the others, did not wait for them
  expect(result.lastDoneByUser.get('carol')!).toBeLessThan(result.halfDoneAt)
  expect(result.peaks.get('SITE_A->SITE_B')).toBeGreaterThan(LIMITS['SITE_A->SITE_B'] / 2)
  const total = s.files + 20 + s.xroot
  console.log(
    `scale-out on PostgreSQL: 3 agents, ${total} files (${s.xroot} through XRootD) in ${seconds.toFixed(1)} s ` +
      `(${(total / seconds).toFixed(1)} files/s, after ${setupSeconds.toFixed(1)} s of setup); ${killed.size} SIGKILLs ` +
      `(${killsInFlight} with files in flight), ${result.takeovers} files taken over; link peaks ` +
      `${[...result.peaks].map(([k, v]) => `${k} ${v}/${LIMITS[k as keyof typeof LIMITS] ?? LIMITS.default}`).join(', ')}`,
  )
  return { kills: killed.size, takeovers: result.takeovers }
}

describe('three agents on one PostgreSQL, one SIGKILLed every few seconds', () => {
  it('1,000 files on file:// and 60 through XRootD: all DONE once, uncharged, in one engine job each, links within limits', async () => {
    const r = await runScaleOut({ files: 1000, xroot: 60, kills: 6, budgetMs: 180_000 })
    expect(r.kills).toBeGreaterThanOrEqual(5)
    expect(r.takeovers).toBeGreaterThan(0)
  }, 300_000)

  it.skipIf(!process.env.ASO_SOAK)(
    'soak: 5,000 files and 100 through XRootD, 20 kills',
    async () => {
      const r = await runScaleOut({ files: 5000, xroot: 100, kills: 20, budgetMs: 600_000 })
      expect(r.kills).toBeGreaterThanOrEqual(20)
    },
    900_000,
  )
})
