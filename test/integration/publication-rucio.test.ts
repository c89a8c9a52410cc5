/**
 * Publication end to end: the whole agent (SQLite store, real loops, the built-in engine) moves job outputs
 * between real XRootD servers and publishes them into a real Rucio server (test/support/rucio.ts).
 *
 * 300 files of 3 users in 4 tasks and 2 datasets, maxFilesPerBlock 50, with planted missing sources (FAILED)
 * and a task killed mid-run: every DONE file must be a replica at its RSE with its bytes and adler32, attached
 * to exactly one closed block of its container, each block covered by an OK rule; FAILED and KILLED files
 * must be nowhere in Rucio. Then the faults: Rucio down for 20 s, a wrong password fixed by a new config and a
 * publication retry, a scope Rucio does not have, a replica registered before with another checksum.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransferRecord } from '../../src/domain/transfer.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { RUCIO_ROOT, type RucioPeer, rucioPeerMissing, startRucioPeer } from '../support/rucio.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../support/xrootd.js'
import { outputRequest, stageOutput, writeXrootdConfig } from '../support/xrootd-lab.js'

const missing = rucioPeerMissing()
const DS1 = '/Higgs/ana-v1/USER'
const DS2 = '/Zmumu/ana-v1/USER'

let base: string
let rucio: RucioPeer
let A: XrootdSite
let B: XrootdSite
let C: XrootdSite

beforeAll(async () => {
  if (missing) return
  requireXrootd()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-publication-'))
  ;[rucio, A, B, C] = await Promise.all([
    startRucioPeer(),
    startXrootdSite({ name: 'XRD_A', baseDir: base }),
    startXrootdSite({ name: 'XRD_B', baseDir: base }),
    startXrootdSite({ name: 'XRD_C', baseDir: base }),
  ])
  const { admin } = rucio
  for (const [rse, site] of [
    ['XRD_B', B],
    ['XRD_C', C],
  ] as const) {
    await admin.addRse(rse, {
      deterministic: false,
      protocols: [{ scheme: 'root', hostname: '127.0.0.1', port: site.port, prefix: '/' }],
    })
  }
  for (const user of ['alice', 'bob', 'carol', 'erin', 'frank', 'gina']) {
    await admin.addUser(user)
    for (const rse of ['XRD_B', 'XRD_C']) await admin.setLimit(user, rse)
  }
  await admin.addGroup('higgs')
  // dave is not in Rucio at all: no scope user.dave, so his publications fail with an explanation
}, 120_000)

afterAll(async () => {
  await Promise.all([rucio?.stop(), A?.stop(), B?.stop(), C?.stop()])
  if (base) await rm(base, { recursive: true, force: true })
})

type Request = ReturnType<typeof outputRequest> & { publish?: boolean; dataset?: string; group?: string }

interface FileSpec {
  user: string
  task: string
  dataset: string
  destination: 'XRD_B' | 'XRD_C'
  n: number
  /** how many of them have no source (never staged): they end FAILED */
  missing?: number
  /** outputs in the group's area /store/group/<group>/ (the group's scope) */
  group?: string
}

/** Stages the outputs of a task in XRD_A (all but the missing ones) and returns their requests. */
async function outputs(spec: FileSpec): Promise<Request[]> {
  const requests: Request[] = []
  for (let i = 0; i < spec.n; i++) {
    const data = randomBytes(1024 + i)
    const staged = i >= (spec.missing ?? 0)
    const rec = staged
      ? await stageOutput(A, tempFor(spec, i), data)
      : { size: data.length, adler32: '00000001' }
    const r: Request = outputRequest({
      user: spec.user,
      task: spec.task,
      source: 'XRD_A',
      destination: spec.destination,
      dir: spec.task,
      name: `out_${i}.root`,
      ...rec,
    })
    r.publish = true
    r.dataset = spec.dataset
    if (spec.group) {
      r.group = spec.group
      r.destinationLfn = `/store/group/${spec.group}/${spec.task}/out_${i}.root`
    }
    requests.push(r)
  }
  return requests
}

function tempFor(spec: FileSpec, i: number): string {
  return `/store/temp/user/${spec.user}.260101/${spec.task}/out_${i}.root`
}

function catalogConfig(over: Record<string, unknown> = {}) {
  return {
    type: 'rucio',
    url: rucio.url,
    auth: { type: 'userpass', ...RUCIO_ROOT },
    blockName: '{dataset}_{uuid}',
    maxFilesPerBlock: 50,
    blockCloseAfter: '1h',
    maxAttempts: 30,
    backoff: { initial: '1s', factor: 2, max: '3s' },
    // one single-threaded Rucio on a loaded machine: a call may wait behind another block's
    timeout: '30s',
    ...over,
  }
}

async function agentWith(name: string, config: Record<string, unknown>, store?: TestAgent['store']) {
  const dir = path.join(base, name)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const configPath = await writeXrootdConfig(
    dir,
    { XRD_A: A, XRD_B: B, XRD_C: C },
    {
      users: {
        alice: {},
        bob: {},
        carol: { groups: ['higgs'] },
        dave: {},
        erin: {},
        frank: {},
        gina: {},
      },
      retry: { maxAttempts: 2, backoff: { initial: '200ms', factor: 2, max: '1s', jitter: 0 } },
      agent: { publishInterval: '200ms' },
      ...config,
    },
  )
  return startTestAgent(configPath, store ? { store } : {})
}

async function inject(agent: TestAgent, requests: Request[]): Promise<string[]> {
  const results = await agent.inject(requests)
  expect(results.map((r) => r.status)).toEqual(requests.map(() => 'created'))
  return results.map((r) => r.id!)
}

async function records(agent: TestAgent, ids: readonly string[]): Promise<TransferRecord[]> {
  const byId = new Map((await agent.store.getMany(ids)).map((r) => [r.id, r]))
  return ids.map((id) => byId.get(id)!)
}

/** Waits until every file is terminal and no publication is PENDING or PUBLISHING. */
async function settled(
  agent: TestAgent,
  ids: readonly string[],
  timeoutMs: number,
): Promise<TransferRecord[]> {
  await agent.waitFor(
    async () =>
      (await records(agent, ids)).every(
        (r) =>
          ['DONE', 'FAILED', 'KILLED'].includes(r.state) &&
          !['PENDING', 'PUBLISHING'].includes(r.publicationState),
      ),
    timeoutMs,
    `${ids.length} files terminal and their publication settled`,
  )
  return records(agent, ids)
}

function scopeOf(r: TransferRecord): string {
  const g = /^\/store\/group\/([^/]+)\//.exec(r.destinationLfn)
  return g ? `group.${g[1]}` : `user.${r.user}`
}

describe.skipIf(missing)(`publication into Rucio${missing ? ` (skipped: ${missing})` : ''}`, () => {
  it('publishes 300 files of 3 users in 4 tasks into blocks of at most 50, nothing FAILED or KILLED among them', async () => {
    const agent = await agentWith('main', {
      catalog: catalogConfig(),
      // bob's link is slow enough to kill his task while it runs
      links: { default: { maxActive: 50 }, 'XRD_A->XRD_C': { maxActive: 2, maxFilesPerJob: 2 } },
    })
    try {
      const specs: FileSpec[] = [
        { user: 'alice', task: 'alice-t1', dataset: DS1, destination: 'XRD_B', n: 100, missing: 5 },
        // a recovery task writing into the same dataset
        { user: 'alice', task: 'alice-t2', dataset: DS1, destination: 'XRD_B', n: 50 },
        { user: 'bob', task: 'bob-t1', dataset: DS1, destination: 'XRD_C', n: 80 },
        { user: 'carol', task: 'carol-t1', dataset: DS2, destination: 'XRD_B', n: 70, group: 'higgs' },
      ]
      const ids: string[] = []
      for (const spec of specs) ids.push(...(await inject(agent, await outputs(spec))))
      const bobIds = ids.slice(150, 230)
      await agent.waitFor(
        async () => (await records(agent, bobIds)).filter((r) => r.state === 'DONE').length >= 10,
        120_000,
        "10 of bob's files DONE",
      )
      const killed = await agent.store.kill({ task: 'bob-t1' }, 'killed by bob', Date.now(), 'bob')
      expect(killed.killed + killed.killing).toBeGreaterThan(0)

      const final = await settled(agent, ids, 360_000)
      const done = final.filter((r) => r.state === 'DONE')
      const notDone = final.filter((r) => r.state !== 'DONE')
      // the planted missing sources fail; a file of bob's that failed while its kill was on its way may too
      expect(final.slice(0, 5).map((r) => r.state)).toEqual(Array(5).fill('FAILED'))
      expect(final.filter((r) => r.state === 'FAILED' && r.user !== 'bob')).toHaveLength(5)
      expect(final.filter((r) => r.state === 'KILLED').length).toBeGreaterThan(0)
      expect(done.map((r) => r.publicationState)).toEqual(done.map(() => 'PUBLISHED'))
      expect(notDone.map((r) => r.publicationState)).toEqual(notDone.map(() => 'NOT_REQUIRED'))

      const { admin } = rucio
      // Rucio's view, container by container: blocks, their files, their rules
      const blockOf = new Map<string, string>()
      const containers = [
        ['user.alice', DS1, 'XRD_B', 'alice'],
        ['user.bob', DS1, 'XRD_C', 'bob'],
        ['group.higgs', DS2, 'XRD_B', 'carol'],
      ] as const
      for (const [scope, container, rse, account] of containers) {
        const blocks = await admin.content(scope, container)
        expect(blocks.length).toBeGreaterThan(0)
        for (const b of blocks) {
          expect(b.type).toBe('DATASET')
          const did = await admin.did(scope, b.name)
          expect(did.open).toBe(false)
          const files = await admin.content(scope, b.name)
          expect(files.length).toBeGreaterThan(0)
          expect(files.length).toBeLessThanOrEqual(50)
          for (const f of files) {
            expect(blockOf.has(`${scope}:${f.name}`), `${f.name} in two blocks`).toBe(false)
            blockOf.set(`${scope}:${f.name}`, b.name)
          }
          const rules = await admin.rules(scope, b.name)
          expect(rules).toHaveLength(1)
          expect(rules[0]).toMatchObject({
            state: 'OK',
            rse_expression: rse,
            account,
            locks_ok_cnt: files.length,
          })
        }
      }
      // every DONE file is in exactly the block the store says, at its RSE with its bytes and adler32
      expect(blockOf.size).toBe(done.length)
      for (const r of done) expect(blockOf.get(`${scopeOf(r)}:${r.destinationLfn}`)).toBe(r.blockName)
      for (const scope of ['user.alice', 'user.bob', 'group.higgs']) {
        const mine = done.filter((r) => scopeOf(r) === scope)
        const replicas = await admin.replicas(
          scope,
          mine.map((r) => r.destinationLfn),
        )
        const byName = new Map(replicas.map((x) => [x.name, x]))
        for (const r of mine) {
          const x = byName.get(r.destinationLfn)
          expect(x, r.destinationLfn).toBeDefined()
          expect([x!.bytes, x!.adler32]).toEqual([r.size, r.checksums.adler32])
          expect(Object.keys(x!.rses)).toEqual([r.destination])
        }
      }
      // FAILED and KILLED files are nowhere in Rucio
      for (const r of notDone) expect(blockOf.has(`${scopeOf(r)}:${r.destinationLfn}`)).toBe(false)
      const absent = await admin.replicas(
        'user.bob',
        notDone.filter((r) => r.user === 'bob').map((r) => r.destinationLfn),
      )
      expect(absent).toEqual([])
    } finally {
      await agent.stop()
    }
  }, 540_000)

  it('rides out Rucio down for 20 s: the calls fail transiently, are retried, and the block is PUBLISHED', async () => {
    const agent = await agentWith('down', { catalog: catalogConfig() })
    try {
      const second = await inject(
        agent,
        await outputs({ user: 'erin', task: 'erin-t1', dataset: DS2, destination: 'XRD_B', n: 20 }),
      )
      await rucio.kill()
      const downSince = Date.now()
      await agent.waitFor(
        async () => (await records(agent, second)).every((r) => r.publicationClass === 'catalog-transient'),
        120_000,
        'the publication deferred as catalog-transient',
      )
      const deferred = (await records(agent, second))[0]!
      expect(deferred.publicationState).toBe('PUBLISHING')
      expect(deferred.publicationReason).toMatch(/127\.0\.0\.1/)
      // the outage lasts 20 s: the scenario itself, not a wait for a condition
      await new Promise((r) => setTimeout(r, Math.max(0, downSince + 20_000 - Date.now())))
      await rucio.restart()
      const after = await settled(agent, second, 120_000)
      expect(after.map((r) => r.publicationState)).toEqual(after.map(() => 'PUBLISHED'))
      const block = (await agent.store.blockView(after[0]!.blockName!))!
      expect(block.state).toBe('PUBLISHED')
      expect(block.attempts).toBeGreaterThan(0)
    } finally {
      await agent.stop()
    }
  }, 300_000)

  it('a wrong password fails catalog-permanent and says so; a fixed config and a publication retry finish it', async () => {
    const wrong = await agentWith('password', {
      catalog: catalogConfig({ auth: { type: 'userpass', ...RUCIO_ROOT, password: 'not-the-password' } }),
    })
    const ids = await inject(
      wrong,
      await outputs({ user: 'frank', task: 'frank-t1', dataset: DS1, destination: 'XRD_B', n: 10 }),
    )
    const failed = await settled(wrong, ids, 120_000)
    expect(failed.map((r) => r.state)).toEqual(ids.map(() => 'DONE'))
    expect(failed.map((r) => r.publicationState)).toEqual(ids.map(() => 'FAILED'))
    expect(failed[0]).toMatchObject({ publicationClass: 'catalog-permanent' })
    expect(failed[0]!.publicationReason).toMatch(/catalog\.auth/)
    // stop the agent, keep its store: the operator fixes aso.yaml and asks for a new round
    await wrong.agent.stop()
    const fixed = await agentWith('password-fixed', { catalog: catalogConfig() }, wrong.store)
    try {
      expect(await fixed.store.retryPublications({ task: 'frank-t1' }, Date.now(), 'ops')).toMatchObject({
        republished: 10,
        blocks: 1,
      })
      const after = await settled(fixed, ids, 120_000)
      expect(after.map((r) => r.publicationState)).toEqual(ids.map(() => 'PUBLISHED'))
      expect((await rucio.admin.content('user.frank', after[0]!.blockName!)).length).toBe(10)
    } finally {
      await fixed.stop()
    }
  }, 300_000)

  it('explains a scope Rucio does not have, and refuses a file Rucio already holds with another checksum', async () => {
    const agent = await agentWith('refusals', { catalog: catalogConfig() })
    try {
      // a replica of gina's first output registered before, with another adler32
      const gina = await outputs({ user: 'gina', task: 'gina-t1', dataset: DS1, destination: 'XRD_B', n: 5 })
      await rucio.admin.addReplicas('XRD_B', [
        {
          scope: 'user.gina',
          name: gina[0]!.destinationLfn,
          bytes: gina[0]!.size as number,
          adler32: '0badc0de',
          pfn: `root://127.0.0.1:${B.port}/${gina[0]!.destinationLfn}`,
        },
      ])
      const ginaIds = await inject(agent, gina)
      const daveIds = await inject(
        agent,
        await outputs({ user: 'dave', task: 'dave-t1', dataset: DS1, destination: 'XRD_B', n: 3 }),
      )
      const g = await settled(agent, ginaIds, 120_000)
      expect(g.map((r) => r.publicationState)).toEqual([
        'FAILED',
        'PUBLISHED',
        'PUBLISHED',
        'PUBLISHED',
        'PUBLISHED',
      ])
      expect(g[0]).toMatchObject({ publicationClass: 'catalog-permanent' })
      expect(g[0]!.publicationReason).toMatch(/0badc0de/)
      expect(g[0]!.publicationReason).toContain(g[0]!.checksums.adler32)
      const blockFiles = (await rucio.admin.content('user.gina', g[1]!.blockName!)).map((f) => f.name)
      expect(blockFiles).not.toContain(g[0]!.destinationLfn)
      expect(blockFiles).toHaveLength(4)

      const d = await settled(agent, daveIds, 120_000)
      expect(d.map((r) => r.publicationState)).toEqual(['FAILED', 'FAILED', 'FAILED'])
      expect(d[0]).toMatchObject({ publicationClass: 'catalog-permanent' })
      expect(d[0]!.publicationReason).toMatch(/user\.dave/)
      expect(d[0]!.publicationReason).toMatch(/scope/i)
    } finally {
      await agent.stop()
    }
  }, 300_000)
})
