/**
 * The fts3 engine end to end: ASO's agent submits to the FTS3 double over HTTPS (users' proxies as client
 * certificates, delegation), the double copies between two real XRootD servers (xroot third-party copy) and
 * publishes completion messages to a real ActiveMQ broker over STOMP+TLS (its connector requires a client
 * certificate: the double and the agent both present the test host certificate and check the broker's
 * against the test CA directory). Scenarios: 200 files of three users DONE by
 * messages alone (polling at 10 minutes) with planted failures classified (missing source, permission, quota
 * on a 1 MiB tmpfs in the server's own mount namespace); a task killed mid-flight; an expired proxy held and
 * shown by `aso explain` until a new one arrives; `aso serve` SIGKILLed between SUBMITTING and SUBMITTED; and
 * the broker stopped, polling finishing the run. Runs as root inside a network namespace (scripts/test.sh):
 *   unshare -n -- bash -c 'ip link set lo up && npx vitest run test/e2e/fts3-e2e.test.ts'
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Fts3Sim } from '../../packages/fts3-sim/src/server.js'
import type { TransferRecord } from '../../src/domain/transfer.js'
import type { Fts3Engine } from '../../src/engines/fts3/engine.js'
import { openStore } from '../../src/store/open.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import {
  CLI,
  cliEnv,
  ensureStopped,
  requireBuiltCli,
  type ServeProcess,
  sigkillAndReap,
  startServe,
} from '../support/crash-agents.js'
import { startTlsSim } from '../support/fts3.js'
import { makeTestPki, type TestPki, type UserCert } from '../support/pki.js'
import { requireActivemq, type StompBroker, startStompBroker } from '../support/stomp-broker.js'
import { putFile, requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'
import { outputRequest, writeXrootdConfig } from '../support/xrootd-lab.js'

const execFileP = promisify(execFile)
const USERS = ['alice', 'bob', 'carol'] as const

let dir: string
let pki: TestPki
const certs: Record<string, UserCert> = {}
let A: XrootdSite
let B: XrootdSite
let broker: StompBroker
let sim: Fts3Sim
let serial = 0
const agents: TestAgent[] = []
const serves: ServeProcess[] = []

beforeAll(async () => {
  requireXrootd()
  requireActivemq()
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-e2e-'))
  await chmod(dir, 0o755)
  pki = await makeTestPki(path.join(dir, 'pki'))
  await mkdir(path.join(dir, 'proxies'))
  for (const user of [...USERS, 'dave', 'erin']) {
    certs[user] = await pki.userCert(user)
    if (user !== 'dave') await newProxy(user)
  }
  // dave's proxy expired yesterday
  await copyFile((await pki.proxy(certs.dave!, { expired: true })).path, proxyFile('dave'))
  ;[A, B, broker] = await Promise.all([
    startXrootdSite({ name: 'A', baseDir: dir }),
    // erin's destination area is a 1 MiB disk: a real ENOSPC
    startXrootdSite({ name: 'B', baseDir: dir, smallDisk: { dir: '/store/user/erin', size: '1m' } }),
    startStompBroker({ tls: pki }),
  ])
  // a directory of bob's that the server may not write into: a real permission error
  const locked = sitePath(B, '/store/user/bob/locked')
  await mkdir(locked, { recursive: true })
  const xrootd = await execFileP('id', ['-u', 'xrootd']).then((r) => Number(r.stdout.trim()))
  for (const d of ['/store', '/store/user', '/store/user/bob']) await chown(sitePath(B, d), xrootd, xrootd)
  await chmod(locked, 0o555)
  ;({ sim } = await startTlsSim(pki, {
    vo: 'cms',
    maxActive: 100,
    schedulerIntervalMs: 50,
    stomp: stompTls(),
    env: { XRD_CONNECTIONRETRY: '1', XRD_REQUESTTIMEOUT: '30' },
  }))
}, 180_000)

afterAll(async () => {
  for (const s of serves) await ensureStopped(s)
  for (const a of agents) await a.stop().catch(() => undefined)
  await sim?.close()
  await Promise.all([A?.stop(), B?.stop(), broker?.stop()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** The broker over STOMP+TLS with a client certificate: the only way messages can come. */
function stompTls() {
  return { url: broker.mtlsUrl!, caDir: pki.caDir, cert: pki.host.certPath, key: pki.host.keyPath }
}

function proxyFile(user: string): string {
  return path.join(dir, 'proxies', `${user}.pem`)
}

async function newProxy(user: string): Promise<void> {
  const p = await pki.proxy(certs[user]!)
  await rm(proxyFile(user), { force: true })
  await copyFile(p.path, proxyFile(user))
}

/** An aso.yaml (own SQLite file) sending XA->XB to the double; `over` merged in. */
async function config(name: string, over: Record<string, unknown> = {}): Promise<string> {
  const d = path.join(dir, name)
  await mkdir(d, { recursive: true })
  return writeXrootdConfig(
    d,
    { XA: A, XB: B },
    {
      engine: 'fts3',
      instance: 'e2e',
      links: { default: { maxActive: 400 } },
      holds: { quotaRecheck: '10m' },
      fts3: {
        servers: [{ url: sim.url, links: ['*->*'] }],
        proxyPath: path.join(dir, 'proxies', '{user}.pem'),
        caDir: pki.caDir,
        timeout: '10s',
        stomp: stompTls(),
      },
      ...over,
    },
  )
}

async function agent(name: string, over: Record<string, unknown> = {}): Promise<TestAgent> {
  const a = await startTestAgent(await config(name, over))
  agents.push(a)
  return a
}

/** `n` job outputs of `user` left at A; requests for them to `dir` at B. */
async function outputs(user: string, task: string, n: number, bytes = 4096) {
  const reqs: ReturnType<typeof outputRequest>[] = []
  for (let i = 0; i < n; i++) {
    const data = randomBytes(bytes)
    const name = `f${++serial}.root`
    const r = outputRequest({
      user,
      task,
      source: 'XA',
      destination: 'XB',
      dir: task,
      name,
      size: data.length,
      adler32: await adler32(data),
    })
    await putFile(A, r.sourceLfn, data)
    reqs.push(r)
  }
  return reqs
}

async function records(a: TestAgent, ids: readonly string[]): Promise<TransferRecord[]> {
  return a.store.getMany(ids)
}

async function waitStates(
  a: TestAgent,
  ids: string[],
  ok: (t: TransferRecord) => boolean,
  ms: number,
  what: string,
) {
  await a.waitFor(async () => (await records(a, ids)).every(ok), ms, what)
}

const idsOf = (results: { id: string | null }[]) => results.map((r) => r.id!)
const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!

/** transfer id + attempt → the double's jobs holding that attempt. */
function fileJobs(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const j of sim.jobs()) {
    for (const f of j.files) {
      const m = f.fileMetadata as { transfer?: string; attempt?: number } | null
      if (!m?.transfer) continue
      const key = `${m.transfer}:${m.attempt}`
      out.set(key, (out.get(key) ?? new Set()).add(j.jobId))
    }
  }
  return out
}

describe('ASO through the FTS3 double to real XRootD sites', () => {
  it('200 files of 3 users DONE by completion messages (polling every 10 min); planted failures classified', async () => {
    const a = await agent('main', { agent: { pollInterval: '10m' } })
    const good = (await Promise.all(USERS.map((u, i) => outputs(u, `task-${u}`, [67, 67, 66][i]!)))).flat()
    const [missing] = await outputs('alice', 'planted-alice', 1)
    await rm(sitePath(A, missing!.sourceLfn))
    const [denied] = await outputs('bob', 'planted-bob', 1)
    denied!.destinationLfn = '/store/user/bob/locked/denied.root'
    const [full] = await outputs('erin', 'planted-erin', 1, 2 * 1024 * 1024)
    const started = Date.now()
    const ids = idsOf(await a.inject(good))
    const [missingId, deniedId, fullId] = idsOf(await a.inject([missing!, denied!, full!]))
    // a bound, not a pace: the suite runs two files at once on two cores
    await waitStates(a, ids, (t) => t.state === 'DONE', 300_000, '200 files DONE').catch(async (e: Error) => {
      // slow copies (a loaded machine) or lost messages: what the double had finished tells them apart
      const ours = new Map<string, number>()
      for (const t of await records(a, ids)) ours.set(t.state, (ours.get(t.state) ?? 0) + 1)
      const atFts = new Map<string, number>()
      for (const j of sim.jobs().filter((j) => j.jobMetadata.instance === 'e2e'))
        for (const f of j.files) atFts.set(f.fileState, (atFts.get(f.fileState) ?? 0) + 1)
      const fts3 = (a.engines.get('fts3') as Fts3Engine).stompStatus()
      throw new Error(
        `${e.message}: ASO ${JSON.stringify(Object.fromEntries(ours))}, FTS ${JSON.stringify(Object.fromEntries(atFts))}, messages ${JSON.stringify(fts3)}`,
      )
    })
    const seconds = (Date.now() - started) / 1000

    // bytes at the destination, with the adler32 the job reported
    for (const r of good.slice(0, 200)) {
      const data = await readFile(sitePath(B, r.destinationLfn))
      expect(await adler32(data)).toBe(r.checksums.adler32)
    }
    // jobs of up to 100 files, one user each; each user delegated once, before their first job
    const jobs = sim.jobs().filter((j) => j.jobMetadata.instance === 'e2e')
    expect(jobs.every((j) => j.files.length <= 100 && j.retry === -1 && j.verifyChecksum === 'b')).toBe(true)
    for (const u of USERS) expect(sim.delegations().filter((d) => d.dn === certs[u]!.dn)).toHaveLength(1)

    // the agent heard FTS over STOMP+TLS (with its client certificate), the only way configured
    expect((a.engines.get('fts3') as Fts3Engine).stompStatus()).toEqual({
      broker: broker.mtlsUrl,
      connected: true,
      problem: null,
    })
    // DONE soon after the transfer's end at FTS, with polling every 10 minutes: the messages did it
    const endAt = new Map<string, number>()
    for (const j of jobs) {
      for (const f of j.files) {
        const at = f.attempts.at(-1)?.finishedAt
        const m = f.fileMetadata as { transfer: string }
        if (at) endAt.set(m.transfer, at.getTime())
      }
    }
    const delays = (await records(a, ids)).map((t) => t.finishedAt! - endAt.get(t.id)!)
    const p50 = quantile(delays, 0.5)
    const p95 = quantile(delays, 0.95)
    console.log(
      `fts3 e2e: 200 files in ${seconds.toFixed(1)} s; STOMP+TLS message delay p50 ${p50} ms, p95 ${p95} ms, max ${Math.max(...delays)} ms`,
    )
    // the messages did it: polling (every 10 min) would take minutes. Files DONE within 5 s of FTS ending
    // them at the median; the tail is the machine's, not TLS's (a burst of 200 messages crosses the broker in
    // under a second either way; at a load of 10 on 2 cores p50 2.0 s, p95 2.5 s; at 19, p50 5.8 s, p95 26 s),
    // the 5 s target for all is the benchmark's (npm run bench -- fts3: fts3.stomp.delay)
    expect(p50).toBeLessThanOrEqual(5000)
    expect(Math.max(...delays)).toBeLessThan(60_000)

    await waitStates(a, [missingId!, deniedId!], (t) => t.state === 'FAILED', 30_000, 'planted failures')
    await a
      .waitFor(async () => (await a.store.get(fullId!))?.failureClass === 'quota', 30_000, 'quota')
      .catch(async (e: Error) => {
        const t = await a.store.get(fullId!)
        throw new Error(`${e.message}: ${JSON.stringify([t?.state, t?.failureClass, t?.failureReason])}`)
      })
    // getMany answers in store order, not in the order asked
    const byId = new Map((await records(a, [missingId!, deniedId!])).map((t) => [t.id, t]))
    const [m, d] = [byId.get(missingId!), byId.get(deniedId!)]
    expect(m).toMatchObject({ failureClass: 'permanent-source' })
    expect(m!.failureReason).toMatch(/^SOURCE \[2\]/)
    expect(d).toMatchObject({ failureClass: 'permanent-destination' })
    const q = (await a.store.get(fullId!))!
    // quota: held (back to NEW, no attempt charged) with the reason, nothing else of erin's goes to XB
    expect(q).toMatchObject({ state: 'NEW', attempt: 1 })
    expect(q.failureReason).toMatch(/no space left on device/i)
    expect((await a.store.activeHolds(Date.now())).filter((h) => h.user === 'erin')).toMatchObject([
      { site: 'XB', class: 'quota' },
    ])
    await a.stop()
  }, 400_000)

  it('a task killed mid-flight: its FTS jobs are CANCELED at the double, its files KILLED', async () => {
    const a = await agent('kill', { agent: { pollInterval: '1s' } })
    const ids = idsOf(await a.inject(await outputs('carol', 'doomed', 20, 1024 * 1024)))
    await waitStates(a, ids, (t) => t.state === 'SUBMITTED', 20_000, 'submitted')
    const jobIds = new Set((await records(a, ids)).map((t) => t.engineJobId!))
    await a.store.kill({ task: 'doomed' }, 'killed by the test', Date.now(), 'test')
    a.agent.wake('killer')
    await waitStates(a, ids, (t) => t.state === 'KILLED' || t.state === 'DONE', 30_000, 'files KILLED')
    const atFts = sim.jobs().filter((j) => jobIds.has(j.jobId))
    expect(atFts.map((j) => j.jobState)).toEqual([...jobIds].map(() => 'CANCELED'))
    // every file FTS cancelled is KILLED; one FTS finished before the cancel arrived may only be DONE
    const ftsState = new Map(
      atFts.flatMap((j) =>
        j.files.map((f) => [(f.fileMetadata as { transfer: string }).transfer, f.fileState]),
      ),
    )
    const ours = await records(a, ids)
    expect(ours.map((t) => [t.state, ftsState.get(t.id)])).toEqual(
      ours.map((t) => (t.state === 'DONE' ? ['DONE', 'FINISHED'] : ['KILLED', 'CANCELED'])),
    )
    expect(ours.filter((t) => t.state === 'KILLED').length).toBeGreaterThan(ids.length / 2)
    await a.stop()
  }, 60_000)

  it('an expired proxy: held with a credential reason (aso explain), nothing submitted; a new proxy lifts it', async () => {
    const configPath = await config('expired', { agent: { pollInterval: '1s' } })
    const a = await startTestAgent(configPath)
    agents.push(a)
    const ids = idsOf(await a.inject(await outputs('dave', 'late', 3)))
    await a.waitFor(
      async () =>
        (await a.store.activeHolds(Date.now())).some((h) => h.user === 'dave' && h.class === 'credential'),
      20_000,
      'credential hold',
    )
    const { stdout } = await execFileP(process.execPath, [CLI, '--config', configPath, 'explain', ids[0]!], {
      env: cliEnv(),
    })
    expect(stdout).toMatch(/held \(credential\): the X\.509 proxy .*dave\.pem of dave .* expired .* ago/)
    expect(sim.jobs().some((j) => j.userDn === certs.dave!.dn)).toBe(false)
    expect(sim.delegations().some((d) => d.dn === certs.dave!.dn)).toBe(false)
    await newProxy('dave')
    await waitStates(a, ids, (t) => t.state === 'DONE', 30_000, "dave's files DONE")
    // his first submission delegated
    expect(sim.delegations().filter((d) => d.dn === certs.dave!.dn)).toHaveLength(1)
    await a.stop()
  }, 60_000)

  it('aso serve SIGKILLed after the submit request left: no attempt in two FTS jobs, every file ends', async () => {
    requireBuiltCli()
    const configPath = await config('crash', {
      agent: {
        pollInterval: '1s',
        submitTimeout: '3s',
        reapInterval: '500ms',
        lease: '2s',
      },
    })
    const store = await openStore(`sqlite:${path.join(dir, 'crash', 'aso.db')}`)
    try {
      const reqs = [
        ...(await outputs('alice', 'crash-alice', 20)),
        ...(await outputs('bob', 'crash-bob', 20)),
      ]
      const admin = await startTestAgent(configPath, { start: false })
      const ids = idsOf(await admin.inject(reqs))
      await admin.store.close()
      // the double makes the next jobs, then sits on its answers for 4 s: SUBMITTING here, a job at FTS
      sim.faults.holdNextSubmitResponse(4000, 2)
      const first = startServe({ configPath, logPath: path.join(dir, 'crash', 'serve-1.log'), index: 0 })
      serves.push(first)
      const crashJobs = () => sim.jobs().filter((j) => String(j.jobMetadata.task).startsWith('crash-'))
      const until = Date.now() + 20_000
      while (crashJobs().length === 0) {
        if (Date.now() > until) throw new Error('no submission reached the double')
        await new Promise((r) => setTimeout(r, 20))
      }
      // the request has left and FTS has the job; the agent dies before it hears so
      expect(await sigkillAndReap(first)).toEqual([])
      const atKill = await store.getMany(ids)
      expect(atKill.filter((t) => t.state === 'SUBMITTING').length).toBeGreaterThan(0)
      expect(
        atKill.some((t) => t.state === 'SUBMITTED' && crashJobs().some((j) => j.jobId === t.engineJobId)),
      ).toBe(false)
      const second = startServe({ configPath, logPath: path.join(dir, 'crash', 'serve-2.log'), index: 1 })
      serves.push(second)
      const deadline = Date.now() + 60_000
      while (!(await store.getMany(ids)).every((t) => t.state === 'DONE')) {
        if (Date.now() > deadline) {
          const states = (await store.getMany(ids)).map((t) => t.state)
          throw new Error(`not all DONE: ${JSON.stringify(states)}`)
        }
        await new Promise((r) => setTimeout(r, 100))
      }
      const twice = [...fileJobs()].filter(([, jobs]) => jobs.size > 1)
      expect(twice).toEqual([])
      // the restarted agent found the jobs it had not heard of at FTS and adopted them
      expect(await readFile(second.logPath, 'utf8')).toMatch(/found at FTS: adopted|FTS already had the job/)
      // no attempt was charged for our crash
      expect((await store.getMany(ids)).every((t) => t.attempt === 1)).toBe(true)
      second.child.kill('SIGTERM')
      await second.exited
    } finally {
      await store.close()
    }
  }, 120_000)

  it('with the broker stopped, polling alone still finishes the run', async () => {
    await broker.stop()
    const a = await agent('no-broker', { agent: { pollInterval: '1s' } })
    const ids = idsOf(await a.inject(await outputs('alice', 'nobroker', 20)))
    await waitStates(a, ids, (t) => t.state === 'DONE', 60_000, 'DONE by polling')
    await a.stop()
  }, 90_000)
})
