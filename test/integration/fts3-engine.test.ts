/**
 * The fts3 engine against the FTS3 double over HTTPS (test PKI, users' proxies as client certificates) with
 * in-memory mock:// storage: deterministic ids and 409 adoption, bulk status (207, archive, lost, 403),
 * HTML error pages, server fallback on 503 and on timeouts, delegation on first use and after a 419,
 * bearer tokens, and users held for their credential.
 */
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Fts3Sim } from '../../packages/fts3-sim/src/server.js'
import { startFts3Sim } from '../../packages/fts3-sim/src/server.js'
import { batchSid, transferId } from '../../src/domain/ids.js'
import { Fts3Engine, type Fts3EngineOptions } from '../../src/engines/fts3/engine.js'
import { CredentialHoldError, type EngineJob, EngineSubmitError } from '../../src/engines/types.js'
import { startTlsSim, type TlsSim, waitForJob } from '../support/fts3.js'
import { MockStorage } from '../support/mock-storage.js'
import { makeTestPki, type TestPki, type UserCert } from '../support/pki.js'

const HOUR = 3600_000
const ISSUER = 'https://iam.example.org/'
const AUDIENCE = 'https://fts.example.org'

let dir: string
let pki: TestPki
let users: Record<string, UserCert>
let mock: MockStorage
let primary: TlsSim
let fallback: TlsSim
let signingKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey']
let serial = 0
const engines: Fts3Engine[] = []

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-engine-'))
  pki = await makeTestPki(path.join(dir, 'pki'))
  const names = ['alice', 'bob', 'carol', 'dave', 'erin']
  const certs = await Promise.all(names.map((n) => pki.userCert(n)))
  users = Object.fromEntries(names.map((n, i) => [n, certs[i]!]))
  await mkdir(path.join(dir, 'proxies'))
  for (const n of ['alice', 'bob', 'carol']) await copyFile((await pki.proxy(users[n]!)).path, proxyFile(n))
  // dave's proxy expired yesterday; erin's has an hour left (less than the 2 h needed to submit)
  await copyFile((await pki.proxy(users.dave!, { expired: true })).path, proxyFile('dave'))
  await copyFile((await pki.proxy(users.erin!, { hours: 1 })).path, proxyFile('erin'))
  const keys = await generateKeyPair('RS256')
  signingKey = keys.privateKey
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }))
  mock = new MockStorage()
  const simOpts = {
    methods: [mock.method],
    storage: mock.registry(),
    maxActive: 50,
    schedulerIntervalMs: 20,
    archiveAfterMs: 1500,
    tokens: { issuers: [{ issuer: ISSUER, jwksFile: path.join(dir, 'jwks.json') }], audience: AUDIENCE },
  }
  ;[primary, fallback] = await Promise.all([startTlsSim(pki, simOpts), startTlsSim(pki, simOpts)])
})

afterAll(async () => {
  for (const e of engines) await e.close()
  await Promise.all([primary?.sim.close(), fallback?.sim.close()])
  if (dir) await rm(dir, { recursive: true, force: true })
})

function proxyFile(user: string): string {
  return path.join(dir, 'proxies', `${user}.pem`)
}

function newEngine(over: Partial<Fts3EngineOptions> = {}): Fts3Engine {
  const e = new Fts3Engine({
    servers: [{ url: primary.sim.url, links: ['*->*'] }],
    instance: 'it',
    proxyPath: path.join(dir, 'proxies', '{user}.pem'),
    caDir: pki.caDir,
    maxFilesPerJob: 100,
    maxTimeInQueueMs: 4 * HOUR,
    overwrite: false,
    verifyChecksum: 'both',
    delegation: { lifetimeMs: 48 * HOUR, renewBelowMs: 24 * HOUR },
    minProxyLifetimeMs: 2 * HOUR,
    timeoutMs: 5000,
    ...over,
  })
  engines.push(e)
  return e
}

interface Planted {
  job: EngineJob
  sid: string
}

/** `n` files of `user` on mock storage (the source of file `missing` is absent), as one engine job. */
async function plant(
  engine: Fts3Engine,
  user: string,
  n: number,
  opts: { missing?: number } = {},
): Promise<Planted> {
  const files = Array.from({ length: n }, (_, i) => {
    const k = ++serial
    const lfn = `/store/user/${user}/f${k}.root`
    const file = {
      transferId: transferId('B', lfn),
      attempt: 1,
      submission: 1,
      task: `task-${user}`,
      sources: [{ scheme: 'mock', url: `mock://a.example/store/temp/user/${user}.x/f${k}.root` }],
      destinations: [{ scheme: 'mock', url: `mock://b.example${lfn}` }],
      size: 1000 + k,
      adler32: (0x10000000 + k).toString(16),
      activity: 'ASO',
      priority: 3,
      ownsDestination: false,
    }
    if (i !== opts.missing) mock.put(file.sources[0]!.url, file.size, file.adler32)
    return file
  })
  const sid = batchSid(
    files.map((f) => ({ id: f.transferId, attempt: f.attempt, submissions: f.submission })),
  )
  const ctx = { user, group: null, role: null, source: 'A', destination: 'B' }
  const id = (await engine.jobIdFactory(ctx))(sid)
  return {
    sid,
    job: { id, ...ctx, files, priority: 3, overwrite: false, maxActive: 100 },
  }
}

const jobsWithId = (sim: Fts3Sim, id: string) => sim.jobs().filter((j) => j.jobId === id)

describe('submission', () => {
  it('the job id is known before the call and is the one FTS makes; the files carry our ids', async () => {
    const engine = newEngine()
    const { job, sid } = await plant(engine, 'alice', 3)
    await engine.submit(job)
    const [sj] = jobsWithId(primary.sim, job.id)
    expect(sj).toMatchObject({ sid, userDn: users.alice!.dn, retry: -1, verifyChecksum: 'b' })
    expect(sj!.jobMetadata).toMatchObject({
      issuer: 'ASO',
      instance: 'it',
      user: 'alice',
      task: 'task-alice',
    })
    expect(sj!.files[0]).toMatchObject({
      checksum: `adler32:${job.files[0]!.adler32}`,
      fileMetadata: { transfer: job.files[0]!.transferId, attempt: 1, submission: 1 },
    })
    // a max_time_in_queue of 4 h, sent with its unit (a bare number would be hours)
    expect(sj!.maxTimeInQueue! - sj!.submitTime.getTime() / 1000).toBe(4 * 3600)
  })

  it('an answer lost on the way back: the same sid again is answered 409 and adopted, one job only', async () => {
    const engine = newEngine()
    const { job } = await plant(engine, 'alice', 2)
    primary.sim.faults.dropNextSubmitResponse()
    await engine.submit(job)
    expect(jobsWithId(primary.sim, job.id)).toHaveLength(1)
    // a restarted agent hands the job over again: found at FTS, adopted, still one job
    await newEngine().submit(job)
    expect(jobsWithId(primary.sim, job.id)).toHaveLength(1)
  })

  it('a 503 HTML page: not created, retryable, with the page message; the next submit goes to the fallback', async () => {
    const engine = newEngine({
      servers: [
        { url: primary.sim.url, links: ['*->*'] },
        { url: fallback.sim.url, links: ['*->*'], fallback: true },
      ],
    })
    const { job } = await plant(engine, 'bob', 1)
    primary.sim.faults.inject({ method: 'POST', path: '/jobs' }, { kind: 'unavailable' })
    const err = await engine.submit(job).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(EngineSubmitError)
    expect((err as EngineSubmitError).retryable).toBe(true)
    expect((err as EngineSubmitError).inDoubt).toBe(false)
    expect((err as Error).message).toMatch(/503: The server is temporarily unable to service your request/)
    expect(jobsWithId(primary.sim, job.id)).toHaveLength(0)
    // the files are claimed again (a new submission number): the primary is avoided for a while
    const again = await plant(engine, 'bob', 1)
    await engine.submit(again.job)
    expect(jobsWithId(fallback.sim, again.job.id)).toHaveLength(1)
  })

  it('a server that does not answer in time is avoided: whoami goes to the fallback', async () => {
    const engine = newEngine({
      timeoutMs: 3000,
      servers: [
        { url: primary.sim.url, links: ['*->*'] },
        { url: fallback.sim.url, links: ['A->*'], fallback: true },
      ],
    })
    primary.sim.faults.inject({ path: '/whoami' }, { kind: 'delay', ms: 6000 })
    const { job } = await plant(engine, 'carol', 1)
    await engine.submit(job)
    expect(jobsWithId(fallback.sim, job.id)).toHaveLength(1)
    expect(engine.pool.available('A', 'B')).toEqual([fallback.sim.url])
  })

  it('a first submission delegates; a 419 (delegation gone) delegates again and the submit goes through', async () => {
    const engine = newEngine()
    const { job } = await plant(engine, 'carol', 1)
    await engine.submit(job)
    const carol = primary.sim.delegations().filter((d) => d.dn === users.carol!.dn)
    expect(carol).toHaveLength(1)
    expect(engine.delegator.made.filter((d) => d.user === 'carol')).toHaveLength(1)
    // the server loses it (an operator deleted it): the engine still thinks it is fresh, so FTS says 419
    const asCarol = primary.client(await pki.proxy(users.carol!))
    const dlg = ((await asCarol.get('/whoami')).json as { delegation_id: string }).delegation_id
    expect((await asCarol.request('DELETE', `/delegation/${dlg}`)).status).toBe(204)
    const next = await plant(engine, 'carol', 1)
    await engine.submit(next.job)
    expect(jobsWithId(primary.sim, next.job.id)).toHaveLength(1)
    expect(engine.delegator.made.filter((d) => d.user === 'carol')).toHaveLength(2)
  })

  it('an expired proxy, or one with less than 2 h left, is a credential hold raised before any claim', async () => {
    const engine = newEngine()
    const ctx = (user: string) => ({ user, group: null, role: null, source: 'A', destination: 'B' })
    const expired = await engine.jobIdFactory(ctx('dave')).catch((e: unknown) => e)
    expect(expired).toBeInstanceOf(CredentialHoldError)
    expect((expired as CredentialHoldError).reason).toMatch(/proxy .*dave\.pem of dave .* expired .* ago/)
    const short = await engine.jobIdFactory(ctx('erin')).catch((e: unknown) => e)
    expect((short as CredentialHoldError).reason).toMatch(
      /expires in (59m|1h)\d*s?, less than the 2h ASO needs/,
    )
    const missing = await engine.jobIdFactory(ctx('frank')).catch((e: unknown) => e)
    expect((missing as CredentialHoldError).reason).toMatch(/no X\.509 proxy of frank at .*frank\.pem/)
    expect(await engine.credentialStatus('alice')).toMatchObject({ problem: null })
  })

  it('a bearer token, when the token file exists, is used instead of the proxy', async () => {
    const token = await new SignJWT({ scope: 'fts' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setSubject('grace-sub')
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setNotBefore('-1m')
      .setExpirationTime('1h')
      .sign(signingKey)
    await mkdir(path.join(dir, 'tokens'), { recursive: true })
    await writeFile(path.join(dir, 'tokens', 'grace.jwt'), `${token}\n`)
    const engine = newEngine({ tokenPath: path.join(dir, 'tokens', '{user}.jwt') })
    const { job } = await plant(engine, 'grace', 2)
    await engine.submit(job)
    const [sj] = jobsWithId(primary.sim, job.id)
    expect(sj).toMatchObject({ userDn: 'grace-sub', jobMetadata: { auth_method: 'oauth2' } })
    await waitForJob(primary.sim, job.id, (j) => j.jobState === 'FINISHED')
    const [status] = await engine.status([job.id])
    expect(status!.files.map((f) => f.result)).toEqual(['done', 'done'])
  })
})

describe('status', () => {
  it('bulk: 207 entries matched by job_id, outcomes per file, an unknown id lost, archived jobs still read', async () => {
    const owners = new Map<
      string,
      { user: string; group: null; role: null; source: string; destination: string }
    >()
    const engine = newEngine({ lookupJob: async (id) => owners.get(id) })
    const a = await plant(engine, 'alice', 3, { missing: 1 })
    const b = await plant(engine, 'alice', 2)
    await engine.submit(a.job)
    await engine.submit(b.job)
    await waitForJob(primary.sim, a.job.id, (j) => j.jobState === 'FINISHEDDIRTY')
    await waitForJob(primary.sim, b.job.id, (j) => j.jobState === 'FINISHED')
    const ghost = '6e0c3c1e-0000-5000-8000-000000000000'
    owners.set(ghost, { user: 'alice', group: null, role: null, source: 'A', destination: 'B' })
    // ids in another order than submitted, one unknown among them: the answer is a 207
    const statuses = await engine.status([b.job.id, ghost, a.job.id])
    const byId = new Map(statuses.map((s) => [s.jobId, s]))
    expect(byId.get(ghost)).toMatchObject({ state: 'unknown' })
    expect(byId.get(b.job.id)).toMatchObject({ state: 'finished', pending: [] })
    expect(byId.get(b.job.id)!.files.map((f) => [f.transferId, f.result])).toEqual(
      b.job.files.map((f) => [f.transferId, 'done']),
    )
    const aFiles = new Map(byId.get(a.job.id)!.files.map((f) => [f.transferId, f]))
    expect(aFiles.get(a.job.files[1]!.transferId)).toMatchObject({
      result: 'failed',
      attempt: 1,
      recoverable: false,
      reason: expect.stringMatching(/^SOURCE \[2\] /),
    })
    expect(aFiles.get(a.job.files[0]!.transferId)).toMatchObject({
      result: 'done',
      engineFileId: expect.any(String),
    })
    // once archived (1.5 s after finishing) the job is read from /archive: not lost
    await waitForJob(primary.sim, b.job.id, (j) => j.archived, 10_000)
    owners.set(b.job.id, { user: 'alice', group: null, role: null, source: 'A', destination: 'B' })
    const [archived] = await newEngine({ lookupJob: async (id) => owners.get(id) }).status([b.job.id])
    expect(archived).toMatchObject({ jobId: b.job.id, state: 'finished' })
    expect(archived!.files).toHaveLength(2)
  })

  it("another user's job answers 403: never reported lost; 503 HTML answers decide nothing either", async () => {
    const engine = newEngine()
    const { job } = await plant(engine, 'alice', 1)
    await engine.submit(job)
    // the store (wrongly) says bob owns it: bob's credential gets a 403, which says nothing about the job
    const misled = newEngine({
      lookupJob: async () => ({ user: 'bob', group: null, role: null, source: 'A', destination: 'B' }),
    })
    expect(await misled.status([job.id])).toEqual([])
    primary.sim.faults.inject({ method: 'GET', path: '/jobs/:id' }, { kind: 'unavailable' })
    expect(await engine.status([job.id])).toEqual([])
    expect((await engine.status([job.id]))[0]).toMatchObject({ jobId: job.id })
  })

  it('verifyChecksum lowered to none: ASO reads the destination itself and never calls a bad copy done', async () => {
    const engine = newEngine({ verifyChecksum: 'none', storage: mock.registry() })
    const { job } = await plant(engine, 'bob', 2)
    await engine.submit(job)
    expect(jobsWithId(primary.sim, job.id)[0]!.verifyChecksum).toBe('n')
    await waitForJob(primary.sim, job.id, (j) => j.jobState === 'FINISHED')
    // the second copy went bad at the destination after FTS was done with it
    const bad = job.files[1]!
    mock.put(bad.destinations[0]!.url, bad.size, 'deadbeef')
    const [status] = await engine.status([job.id])
    const byId = new Map(status!.files.map((f) => [f.transferId, f]))
    expect(byId.get(job.files[0]!.transferId)).toMatchObject({
      result: 'done',
      reason: 'copied by FTS; size and adler32 verified by ASO',
    })
    expect(byId.get(bad.transferId)).toMatchObject({
      result: 'failed',
      reason: `DESTINATION [5] User-defined and destination ADLER32 checksum do not match (${bad.adler32} != deadbeef)`,
    })
  })

  it('a file still queued in a job FTS ended is failed as stuck inside FTS', async () => {
    const { mapJob } = await import('../../src/engines/fts3/status.js')
    const tag = { transfer: 'a'.repeat(32), attempt: 2 }
    const mapped = mapJob('j1', {
      job_id: 'j1',
      job_state: 'FAILED',
      files: [{ file_id: 7, file_state: 'SUBMITTED', file_metadata: tag }],
    })
    expect(mapped.status).toMatchObject({ state: 'finished', pending: [] })
    expect(mapped.status.files[0]).toMatchObject({
      transferId: 'a'.repeat(32),
      attempt: 2,
      result: 'failed',
      reason: 'TRANSFER [5] stuck inside FTS: the file is still SUBMITTED in a FAILED job',
    })
  })
})

describe('cancel', () => {
  it('some files of a job are cancelled file by file, then the rest with the whole job', async () => {
    mock.copyDelayMs = 3000
    try {
      const engine = newEngine()
      const { job } = await plant(engine, 'bob', 3)
      await engine.submit(job)
      await engine.cancel(job.id, [job.files[0]!.transferId])
      let sj = jobsWithId(primary.sim, job.id)[0]!
      expect(sj.files.map((f) => f.fileState)).toEqual([
        'CANCELED',
        expect.not.stringMatching('CANCELED'),
        expect.not.stringMatching('CANCELED'),
      ])
      await engine.cancel(job.id)
      sj = await waitForJob(primary.sim, job.id, (j) => j.jobState === 'CANCELED')
      expect(sj.files.every((f) => f.fileState === 'CANCELED')).toBe(true)
      const [status] = await engine.status([job.id])
      expect(status!.files.map((f) => f.result)).toEqual(['killed', 'killed', 'killed'])
    } finally {
      mock.copyDelayMs = 0
    }
  })
})

describe('one server for everything', () => {
  it('a plain-HTTP double (insecure DN) works the same: no TLS, a delegation it already holds', async () => {
    const sim = await startFts3Sim({
      insecureDn: users.alice!.dn,
      methods: [mock.method],
      storage: mock.registry(),
    })
    try {
      const engine = newEngine({ servers: [{ url: sim.url, links: ['*->*'] }] })
      const { job } = await plant(engine, 'alice', 2)
      await engine.submit(job)
      expect(engine.delegator.made).toHaveLength(0)
      await waitForJob(sim, job.id, (j) => j.jobState === 'FINISHED')
      const [s] = await engine.status([job.id])
      expect(s!.files.map((f) => f.result)).toEqual(['done', 'done'])
    } finally {
      await sim.close()
    }
  })
})
