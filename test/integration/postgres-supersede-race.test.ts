/**
 * A supersede (inject of a newer jobRetry) racing an engine outcome for the same files, on two stores of one
 * database (two agents' pools): whichever lands first, every record's history must replay to its state and
 * the rollups (`transfer_counts`, `task_counts`) must equal a fresh count of the records. Run on PostgreSQL,
 * where the two transactions really overlap, and on SQLite, where they are serialised.
 */
import { afterAll, describe, expect, it } from 'vitest'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { postgresOps, sqliteOps } from '../../src/store/dialect.js'
import { openStore } from '../../src/store/open.js'
import type { ClaimedJob } from '../../src/store/ops/claim.js'
import { type InjectItem, supersede } from '../../src/store/ops/inject.js'
import type { StoreLog } from '../../src/store/postgres/pool.js'
import { toRecord } from '../../src/store/rows.js'
import type { KyselyStore } from '../../src/store/store.js'
import { TASK_STATE_COLUMNS } from '../../src/store/task-rollup.js'
import { applyCountDeltas, type CountDeltas } from '../../src/store/transition.js'
import { items } from '../support/requests.js'
import {
  closeStoreFactories,
  postgresFactory,
  type StoreFactory,
  sqliteFactory,
  testOutcomePolicy,
} from '../support/stores.js'

const quiet: StoreLog = { warn() {}, info() {} }
const FILES = 12
const ROUNDS = 8

const policy = (now: number) => testOutcomePolicy(now, 'engine')

/** The files of one round: new destinations each round, jobRetry 0, or the superseding jobRetry 1. */
function roundItems(round: number, jobRetry: number): InjectItem[] {
  return items(FILES, (i) => ({
    destinationLfn: `/store/user/alice/r${round}/f${i}.root`,
    jobRetry,
    // the newer job retry moves the file to another queue and task: the rollup must follow it
    ...(jobRetry > 0 ? { source: 'C', size: 5000 + i, task: 'task2' } : {}),
  }))
}

const OUTCOMES: Pick<FileOutcome, 'result' | 'reason'>[] = [
  { result: 'done', reason: '' },
  { result: 'failed', reason: 'TRANSFER [110] Operation timed out' },
  { result: 'failed', reason: 'SOURCE [2] No such file or directory' },
]

/** Claims the waiting files of link A→B, one engine job each, and marks the jobs submitted. */
async function claimAndSubmit(store: KyselyStore, limit: number, now: number): Promise<ClaimedJob[]> {
  const jobs = await store.claimForSubmission({
    source: 'A',
    destination: 'B',
    user: 'alice',
    group: null,
    role: null,
    limit,
    maxActive: 10_000,
    maxFilesPerJob: 1,
    engine: 'local',
    agentId: 'agent-1',
    now,
    jobIdFor: (sid) => `job-${sid.slice(0, 16)}`,
  })
  await store.markSubmitted(
    jobs.map((j) => j.jobId),
    now,
    'agent-1',
  )
  return jobs
}

/** Every record's history replays to its state: each event starts where the previous one ended. */
async function expectHistoriesReplay(store: KyselyStore, ids: string[]): Promise<void> {
  const records = await store.db
    .selectFrom('transfers')
    .select(['seq', 'id', 'state'])
    .where('id', 'in', ids)
    .execute()
  const events = await store.db
    .selectFrom('events')
    .select(['transfer_seq', 'from_state', 'to_state', 'reason'])
    .where(
      'transfer_seq',
      'in',
      records.map((r) => Number(r.seq)),
    )
    .orderBy('id')
    .execute()
  for (const r of records) {
    let state: string | null = null
    const trail: string[] = []
    for (const e of events.filter((x) => Number(x.transfer_seq) === Number(r.seq))) {
      trail.push(`${e.from_state}->${e.to_state} (${e.reason})`)
      expect(e.from_state, `${r.id}: ${trail.join(', ')}`).toBe(state)
      state = e.to_state
    }
    expect(state, `${r.id} is ${r.state}: ${trail.join(', ')}`).toBe(r.state)
  }
}

/** The rollups equal a count of the records themselves (files and bytes per queue and state, per task). */
async function expectRollupsExact(store: KyselyStore): Promise<void> {
  const { db } = store
  const key = (r: {
    source: string
    destination: string
    user: string
    grp: string
    role: string
    state: string
  }) => `${r.source}/${r.destination}/${r.user}/${r.grp}/${r.role}/${r.state}`
  const fresh = new Map<string, [number, number]>()
  const freshTasks = new Map<string, Record<string, number>>()
  for (const t of await db
    .selectFrom('transfers')
    .select(['source', 'destination', 'user', 'grp', 'role', 'state', 'task', 'size'])
    .execute()) {
    const c = fresh.get(key(t)) ?? [0, 0]
    fresh.set(key(t), [c[0] + 1, c[1] + Number(t.size)])
    const tk = `${t.task}/${t.user}`
    const row = freshTasks.get(tk) ?? {}
    const column = TASK_STATE_COLUMNS[t.state as keyof typeof TASK_STATE_COLUMNS]
    row[column] = (row[column] ?? 0) + 1
    row.bytes = (row.bytes ?? 0) + Number(t.size)
    freshTasks.set(tk, row)
  }
  const rollup = new Map<string, [number, number]>()
  for (const c of await db.selectFrom('transfer_counts').selectAll().execute()) {
    if (Number(c.n) !== 0 || Number(c.bytes) !== 0) rollup.set(key(c), [Number(c.n), Number(c.bytes)])
  }
  expect(Object.fromEntries(rollup)).toEqual(Object.fromEntries(fresh))
  const tasks = new Map<string, Record<string, number>>()
  for (const t of await db.selectFrom('task_counts').selectAll().execute()) {
    const row: Record<string, number> = {}
    for (const column of [...Object.values(TASK_STATE_COLUMNS), 'bytes'] as const) {
      if (Number(t[column]) !== 0) row[column] = Number(t[column])
    }
    if (Object.keys(row).length > 0) tasks.set(`${t.task}/${t.user}`, row)
  }
  expect(Object.fromEntries(tasks)).toEqual(Object.fromEntries(freshTasks))
}

afterAll(closeStoreFactories)

for (const factory of [postgresFactory, sqliteFactory] satisfies StoreFactory[]) {
  describe(`supersede racing an outcome (${factory.name})`, () => {
    it('leaves histories that replay to each record and rollups equal to the records', async () => {
      // two stores on one database, as two agents: the API injecting, an agent recording outcomes; on SQLite
      // one (a second connection in this process would wait for the first's lock with the event loop blocked)
      const url = await factory.emptyDatabase()
      const api = (await openStore(url, { log: quiet })) as KyselyStore
      const agent = factory.name === 'sqlite' ? api : ((await openStore(url, { log: quiet })) as KyselyStore)
      try {
        let now = 1000
        for (let round = 0; round < ROUNDS; round++) {
          now += 1000
          const first = roundItems(round, 0)
          await api.inject(first, { now, actor: 'api', maxAttempts: 3 })
          const jobs = await claimAndSubmit(agent, FILES, now)
          expect(jobs).toHaveLength(FILES)
          // the supersede as one batch, each outcome in its own transaction: many ways to interleave
          const [superseded] = await Promise.all([
            api.inject(roundItems(round, 1), { now: now + 1, actor: 'api', maxAttempts: 3 }),
            ...jobs.map((j, i) =>
              agent.recordOutcomes(
                [
                  {
                    jobId: j.jobId,
                    transferId: j.transfers[0]!.id,
                    attempt: 1,
                    ...OUTCOMES[i % OUTCOMES.length]!,
                  },
                ],
                policy(now + 1),
              ),
            ),
          ])
          expect(superseded.map((r) => r.status)).toEqual(Array(FILES).fill('superseded'))
          await expectHistoriesReplay(
            api,
            first.map((f) => f.id),
          )
          await expectRollupsExact(api)
        }
      } finally {
        await api.close()
        if (agent !== api) await agent.close()
      }
    })

    it('supersedes from where the record is now when it moved on after being read, else answers from it', async () => {
      const store = (await factory.open()) as KyselyStore
      const dialect = store.dialect === 'postgres' ? postgresOps : sqliteOps
      try {
        const [item] = roundItems(0, 0)
        await store.inject([item!], { now: 1, actor: 'api', maxAttempts: 3 })
        const [job] = await claimAndSubmit(store, 1, 2)
        // the record as an inject read it; then an outcome moves it on before the supersede's guarded update
        const read = await store.db
          .selectFrom('transfers')
          .selectAll()
          .where('id', '=', item!.id)
          .executeTakeFirstOrThrow()
        const stale = { record: toRecord(read), seq: Number(read.seq) }
        await store.recordOutcomes(
          [{ jobId: job!.jobId, transferId: item!.id, attempt: 1, result: 'done', reason: '' }],
          policy(3),
        )
        const supersedeStale = (request: InjectItem['request'], now: number) =>
          store.db.transaction().execute(async (trx) => {
            const deltas: CountDeltas = new Map()
            const r = await supersede(
              trx,
              dialect,
              stale,
              request,
              { now, actor: 'api', maxAttempts: 3 },
              deltas,
            )
            await applyCountDeltas(trx, deltas)
            return r
          })
        const [newer] = roundItems(0, 1)
        const done = await supersedeStale(newer!.request, 4)
        expect(done.result.status).toBe('superseded')
        expect([done.record.state, done.record.jobRetry, done.record.source]).toEqual(['NEW', 1, 'C'])
        const trail = (await store.history(item!.id)).map((e) => `${e.from}->${e.to}`)
        expect(trail).toEqual([
          'null->NEW',
          'NEW->SUBMITTING',
          'SUBMITTING->SUBMITTED',
          'SUBMITTED->DONE',
          'DONE->NEW',
        ])

        // the same stale read again: the record already carries this request (unchanged) or a newer one
        expect((await supersedeStale(newer!.request, 5)).result.status).toBe('unchanged')
        const conflicting = { ...newer!.request, size: 1 }
        const refused = await supersedeStale(conflicting, 6)
        expect(refused.result.status).toBe('rejected')
        expect(refused.result.error!.message).toMatch(
          /changed while this request was applied \(now NEW, jobRetry 1\)/,
        )
        expect(await store.history(item!.id)).toHaveLength(trail.length)
        await expectHistoriesReplay(store, [item!.id])
        await expectRollupsExact(store)
      } finally {
        await store.close()
      }
    })
  })
}
