/**
 * What only PostgreSQL can get wrong: transactions that really run at once (several agents, several pooled
 * connections) and a server that goes away. The dialect-neutral behaviour is in store.test.ts, run on both.
 */
import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Trx } from '../../src/store/dialect.js'
import { openStore } from '../../src/store/open.js'
import type { StoreLog } from '../../src/store/postgres/pool.js'
import type { KyselyStore, Store } from '../../src/store/store.js'
import { replayLinks } from '../support/link-history.js'
import { startTestPostgres, type TestPostgres } from '../support/postgres.js'
import { items } from '../support/requests.js'
import { testOutcomePolicy } from '../support/stores.js'

let server: TestPostgres
let databases = 0
const opened: Store[] = []

beforeAll(async () => {
  server = await startTestPostgres()
}, 60_000)

afterAll(async () => {
  for (const s of opened) await s.close().catch(() => undefined)
  await server?.remove()
})

const quiet: StoreLog = { warn() {}, info() {} }

async function freshDatabase(): Promise<string> {
  const url = await server.createDatabase(`t${++databases}`)
  const s = await openStore(url, { log: quiet })
  await s.close()
  return url
}

async function open(url: string, log: StoreLog = quiet): Promise<KyselyStore> {
  const s = (await openStore(url, { log })) as KyselyStore
  opened.push(s)
  return s
}

function deferred() {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function insertEvent(trx: Trx, tag: string): Promise<number> {
  const row = await trx
    .insertInto('events')
    .values({
      at: 1,
      transfer_seq: 0,
      transfer_id: tag,
      user: 'u',
      task: 't',
      from_state: null,
      to_state: 'NEW',
      reason: tag,
      attempt: 1,
      engine_job_id: null,
      actor: 'test',
    })
    .returning('id')
    .executeTakeFirstOrThrow()
  return Number(row.id)
}

const policy = testOutcomePolicy

describe('PostgreSQL store', () => {
  it('streams events in commit order: a row with a lower id that commits later is never skipped', async () => {
    const store = await open(await freshDatabase())
    const { db } = store
    // T1 starts writing first (its xid is lower), but takes its event id after T2; T1 commits first, T2 later
    const t1HasXid = deferred()
    const t1Go = deferred()
    const t2Inserted = deferred()
    const t2Go = deferred()
    let lateId = 0
    let earlyId = 0
    const t1 = db.transaction().execute(async (trx) => {
      await sql`select pg_current_xact_id()`.execute(trx)
      t1HasXid.resolve()
      await t1Go.promise
      lateId = await insertEvent(trx, 'T1')
    })
    await t1HasXid.promise
    const t2 = db.transaction().execute(async (trx) => {
      earlyId = await insertEvent(trx, 'T2')
      t2Inserted.resolve()
      await t2Go.promise
    })
    await t2Inserted.promise
    t1Go.resolve()
    await t1
    // T1's row has the higher id and is committed; T2's lower id is still open: a reader in id order would
    // hand out T1's id as the cursor and never see T2's row
    expect(earlyId).toBeLessThan(lateId)
    const first = await store.eventsSince(0, {}, 100)
    expect(first.map((e) => e.reason)).toEqual(['T1'])
    // a live stream started now resumes from a point before T2's row
    const live = await store.latestEventId()
    t2Go.resolve()
    await t2
    const next = await store.eventsSince(first.at(-1)!.id, {}, 100)
    expect(next.map((e) => e.reason)).toEqual(['T2'])
    expect((await store.eventsSince(live, {}, 100)).map((e) => e.reason)).toEqual(['T2'])

    // and the plain case: the lower id commits after the higher one
    const a = deferred()
    const aGo = deferred()
    const ta = db.transaction().execute(async (trx) => {
      await insertEvent(trx, 'A')
      a.resolve()
      await aGo.promise
    })
    await a.promise
    await db.transaction().execute(async (trx) => {
      await insertEvent(trx, 'B')
    })
    const cursor = next.at(-1)!.id
    expect(await store.eventsSince(cursor, {}, 100)).toEqual([])
    aGo.resolve()
    await ta
    expect((await store.eventsSince(cursor, {}, 100)).map((e) => e.reason)).toEqual(['A', 'B'])
  })

  it('streams events in commit order under load: a polling reader gets every row once', async () => {
    const store = await open(await freshDatabase())
    const { db } = store
    let writing = true
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let t = 0; t < 25; t++) {
        await db.transaction().execute(async (trx) => {
          if ((w + t) % 3 === 0) await sql`select pg_current_xact_id()`.execute(trx)
          for (let k = 0; k <= (w + t) % 3; k++) {
            await insertEvent(trx, `w${w}t${t}k${k}`)
            await sleep((w * 7 + t * 3 + k) % 5)
          }
        })
      }
    })
    const seen: number[] = []
    const reader = (async () => {
      let cursor = 0
      for (;;) {
        const stillWriting = writing
        const page = await store.eventsSince(cursor, {}, 37)
        seen.push(...page.map((e) => e.id))
        if (page.length) cursor = page.at(-1)!.id
        else if (!stillWriting) return
        else await sleep(2)
      }
    })()
    await Promise.all(writers)
    writing = false
    await reader
    const all = (await db.selectFrom('events').select('id').execute()).map((r) => Number(r.id))
    expect(new Set(seen).size).toBe(seen.length)
    expect([...seen].sort((x, y) => x - y)).toEqual(all.sort((x, y) => x - y))
  })

  it('three agents claiming at once never exceed the link limit and never claim a file twice', async () => {
    const url = await freshDatabase()
    const stores = [await open(url), await open(url), await open(url)]
    const batch = [...items(150), ...items(150, () => ({ user: 'bob', task: 'task-bob' }))]
    await stores[0]!.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
    const maxActive = 20
    const claimedBy = new Map<string, number>()
    let now = 10
    await Promise.all(
      stores.map(async (store, a) => {
        for (;;) {
          const jobs = []
          for (const user of ['alice', 'bob']) {
            jobs.push(
              ...(await store.claimForSubmission({
                source: 'A',
                destination: 'B',
                user,
                group: null,
                role: null,
                limit: 7,
                maxActive,
                maxFilesPerJob: 3,
                engine: 'local',
                agentId: `agent-${a}`,
                now: ++now,
                jobIdFor: (sid) => `job-${sid.slice(0, 16)}`,
              })),
            )
          }
          for (const j of jobs) {
            for (const t of j.transfers) {
              expect(claimedBy.get(t.id), `${t.id} claimed twice`).toBeUndefined()
              claimedBy.set(t.id, a)
            }
          }
          await store.markSubmitted(
            jobs.map((j) => j.jobId),
            ++now,
            `agent-${a}`,
          )
          await sleep(a * 3)
          await store.recordOutcomes(
            jobs.flatMap((j) =>
              j.transfers.map((t) => ({
                jobId: j.jobId,
                transferId: t.id,
                attempt: 1,
                result: 'done' as const,
                reason: 'ok',
              })),
            ),
            policy(++now),
          )
          const left = (await store.counts()).filter((c) => c.state !== 'DONE').reduce((n, c) => n + c.n, 0)
          if (left === 0) return
          if (jobs.length === 0) await sleep(2)
        }
      }),
    )
    expect(claimedBy.size).toBe(300)
    // every agent got work, and the limit held for all of them together, replayed in commit order
    expect(new Set(claimedBy.values()).size).toBe(3)
    const replay = await replayLinks(url)
    expect(replay.peaks.get('A->B')).toBeLessThanOrEqual(maxActive)
    expect(replay.peaks.get('A->B')).toBeGreaterThan(maxActive / 2)
  })

  it("three agents taking over a dead agent's jobs at once: each job moves exactly once", async () => {
    const url = await freshDatabase()
    const stores = [await open(url), await open(url), await open(url)]
    const s0 = stores[0]!
    const batch = items(60)
    await s0.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
    const hb = (id: string, now: number) =>
      s0.heartbeat({ id, host: 'h', pid: 1, startedAt: 1, heartbeatAt: now, loops: {} })
    for (const id of ['dead', 'a0', 'a1', 'a2']) await hb(id, 2)
    const jobs = await s0.claimForSubmission({
      source: 'A',
      destination: 'B',
      user: 'alice',
      group: null,
      role: null,
      limit: 60,
      maxActive: 100,
      maxFilesPerJob: 2,
      engine: 'local',
      agentId: 'dead',
      now: 3,
      jobIdFor: (sid) => `job-${sid.slice(0, 16)}`,
    })
    await s0.markSubmitted(
      jobs.map((j) => j.jobId),
      4,
      'dead',
    )
    const ids = jobs.map((j) => j.jobId)
    // a live holder keeps its jobs
    expect(await stores[1]!.takeOverJobs(ids, 'a1', 5)).toEqual([])
    await s0.stopAgent('dead', 6)
    const taken = await Promise.all(stores.map((s, a) => s.takeOverJobs(ids, `a${a}`, 7)))
    expect(taken.flat().sort()).toEqual([...ids].sort())
    // and the second round: one of the takers dies too
    await s0.stopAgent('a0', 8)
    const again = await Promise.all([1, 2, 1, 2].map((a) => stores[a]!.takeOverJobs(taken[0]!, `a${a}`, 9)))
    expect(again.flat().sort()).toEqual([...taken[0]!].sort())
    for (const t of batch) {
      const rows = (await s0.history(t.id)).filter((e) => /taken over/.test(e.reason))
      const first = taken.findIndex((list) => list.includes(rows[0]?.engineJobId ?? ''))
      expect(rows.length, `${t.id}: one takeover, and one more if a0 took it`).toBe(first === 0 ? 2 : 1)
    }
  })

  it('the same requests injected by several clients at once: stored once, the others told unchanged', async () => {
    const url = await freshDatabase()
    const stores = [await open(url), await open(url), await open(url)]
    const batch = items(200)
    const results = await Promise.all(
      stores.map((s) => s.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })),
    )
    const created = results.flat().filter((r) => r.status === 'created').length
    expect(created).toBe(200)
    expect(results.flat().filter((r) => r.status === 'unchanged')).toHaveLength(400)
    expect((await stores[0]!.counts()).reduce((n, c) => n + c.n, 0)).toBe(200)
  })

  it('of agents asking for the leader lease at once exactly one gets it', async () => {
    const url = await freshDatabase()
    const stores = [await open(url), await open(url), await open(url)]
    for (let round = 0; round < 5; round++) {
      const now = 1000 * (round + 1) * 10
      const asks = stores.flatMap((s, a) =>
        Array.from({ length: 4 }, (_, k) => s.acquireLease('leader', `agent-${a}-${k}`, 1000, now)),
      )
      const got = (await Promise.all(asks)).filter(Boolean)
      expect(got).toHaveLength(1)
    }
  })

  it('survives a server restart: calls fail as unavailable while it is down, then work again by themselves', async () => {
    const url = await freshDatabase()
    const messages: string[] = []
    const log: StoreLog = {
      warn: (_o, m) => messages.push(m),
      info: (_o, m) => messages.push(m),
    }
    const store = await open(url, log)
    await store.inject(items(5), { now: 1, actor: 'test', maxAttempts: 3 })
    // several idle pooled connections: the restart cuts them all (the pool's error event)
    await Promise.all(Array.from({ length: 5 }, () => store.counts()))
    await server.stop()
    const down = await store.counts().then(
      () => null,
      (e: unknown) => e,
    )
    expect(down).toMatchObject({ code: 'unavailable' })
    expect((down as Error).message).toMatch(
      /PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/t\d+ is unreachable/,
    )
    await server.start()
    const until = Date.now() + 15_000
    let counts: Awaited<ReturnType<Store['counts']>> | null = null
    while (!counts) {
      counts = await store.counts().catch((e: unknown) => {
        if ((e as { code?: string }).code !== 'unavailable') throw e
        return null
      })
      if (!counts && Date.now() > until) throw new Error('the store did not reconnect within 15 s')
      if (!counts) await sleep(100)
    }
    expect(counts.reduce((n, c) => n + c.n, 0)).toBe(5)
    expect(messages).toContain('PostgreSQL connection lost; reconnecting with backoff')
    expect(messages).toContain('PostgreSQL reachable again')
  })
})
