/**
 * A transition over rows its transaction read beforehand (`current`): the update returns nothing, yet it changes
 * only the rows still in the expected state, writes one history row per changed file, keeps the rollups exact and
 * tells of the ended records; and one submitter cycle's claims in one transaction never pass a link's limit
 * (SQLite, where rows are updated one by one, and PostgreSQL, where one statement returns the ids). An engine job
 * is SUBMITTED only once none of its files is SUBMITTING, whichever of its outcomes and its mark comes first.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { storeContext } from '../../src/store/context.js'
import { postgresOps, sqliteOps } from '../../src/store/dialect.js'
import type { ClaimSpec } from '../../src/store/ops/claim.js'
import type { KyselyStore, Store } from '../../src/store/store.js'
import {
  CURRENT_COLUMNS,
  type CurrentRow,
  type EndedTransfer,
  transition,
} from '../../src/store/transition.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories, testOutcomePolicy } from '../support/stores.js'

afterAll(closeStoreFactories)

const spec = (over: Partial<ClaimSpec>): ClaimSpec => ({
  source: 'A',
  destination: 'B',
  user: 'alice',
  group: null,
  role: null,
  limit: 10,
  maxActive: 10,
  maxFilesPerJob: 4,
  engine: 'local',
  agentId: 'agent-1',
  now: 2000,
  jobIdFor: (sid) => `job-${sid.slice(0, 12)}`,
  ...over,
})

for (const factory of storeFactories()) {
  describe(`transitions over rows read beforehand (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    const contextOf = (s: Store) =>
      storeContext(
        (s as KyselyStore).db,
        factory.name === 'postgres' ? postgresOps : sqliteOps,
        (s as KyselyStore).policy,
      )

    it('changes only the rows still in the expected state, with one history row each and exact rollups', async () => {
      store = await factory.open()
      const batch = items(5)
      await store.inject(batch, { now: 1000, actor: 'test', maxAttempts: 3 })
      const ids = batch.map((b) => b.id)
      const s = contextOf(store)
      const heard: EndedTransfer[] = []
      s.endedListeners.add((e) => heard.push(...e))
      const changed = await s.tx(async (trx) => {
        const rows = await trx
          .selectFrom('transfers')
          .select(CURRENT_COLUMNS)
          .where('id', 'in', ids)
          .execute()
        // another writer's change between the read and the update (here in the same transaction): the guard
        // must leave that row alone although the caller still holds it as NEW
        await trx.updateTable('transfers').set({ state: 'KILLED' }).where('id', '=', ids[1]!).execute()
        return transition(trx, {
          event: 'killQueued',
          from: 'NEW',
          ids,
          current: new Map<string, CurrentRow>(rows.map((r) => [r.id, r])),
          set: { failure_class: 'killed', failure_reason: 'not needed', finished_at: 3000 },
          reason: 'not needed',
          actor: 'alice',
          now: 3000,
        })
      })
      expect(changed.map((r) => r.id)).toEqual(ids.filter((id) => id !== ids[1]))
      expect(changed[0]).toMatchObject({ state: 'KILLED', failure_class: 'killed', updated_at: 3000 })
      for (const id of ids.filter((i) => i !== ids[1])) {
        const record = (await store.get(id))!
        expect(record).toMatchObject({ state: 'KILLED', failureClass: 'killed', finishedAt: 3000 })
        expect((await store.history(id)).map((e) => [e.from, e.to, e.reason])).toEqual([
          [null, 'NEW', 'injected by test'],
          ['NEW', 'KILLED', 'not needed'],
        ])
      }
      // the row moved by the other writer got no history row from this transition
      expect((await store.history(ids[1]!)).map((e) => e.to)).toEqual(['NEW'])
      expect(heard.map((e) => [e.id, e.state, e.failureClass, e.createdAt])).toEqual(
        changed.map((r) => [r.id, 'KILLED', 'killed', 1000]),
      )
      // the rollup moved the 4 changed files (the other writer's raw update bypassed it, as nothing real does)
      const cells = Object.fromEntries((await store.counts()).map((c) => [c.state, c.n]))
      expect(cells).toMatchObject({ NEW: 1, KILLED: 4 })
    })

    it('refuses an expression-valued set with rows read beforehand', async () => {
      store = await factory.open()
      const batch = items(1)
      await store.inject(batch, { now: 1000, actor: 'test', maxAttempts: 3 })
      const s = contextOf(store)
      await expect(
        s.tx(async (trx) => {
          const rows = await trx.selectFrom('transfers').select(CURRENT_COLUMNS).execute()
          return transition(trx, {
            event: 'killQueued',
            from: 'NEW',
            ids: [batch[0]!.id],
            current: new Map<string, CurrentRow>(rows.map((r) => [r.id, r])),
            set: (eb) => ({ attempt: eb('attempt', '+', 1) }),
            reason: 'x',
            actor: 'x',
            now: 2000,
          })
        }),
      ).rejects.toThrow(/plain set/)
      expect((await store.get(batch[0]!.id))!.state).toBe('NEW')
    })

    it("claims several queues of one link in one transaction without passing the link's limit", async () => {
      store = await factory.open()
      const alice = items(8)
      const bob = items(8, () => ({ user: 'bob', task: 'task2' }))
      await store.inject([...alice, ...bob], { now: 1000, actor: 'test', maxAttempts: 3 })
      const claimed = await store.claimForSubmissions([
        spec({ user: 'alice', limit: 6 }),
        spec({ user: 'bob', limit: 6 }),
      ])
      const files = claimed.map((jobs) => jobs.reduce((n, j) => n + j.transfers.length, 0))
      // ten in flight at most: alice's six, then bob's four of the six asked
      expect(files).toEqual([6, 4])
      for (const job of claimed.flat()) {
        expect(job.transfers.length).toBeLessThanOrEqual(4)
        for (const t of job.transfers) {
          expect(t).toMatchObject({ state: 'SUBMITTING', engineJobId: job.jobId, submissions: 1 })
          expect(await store.get(t.id)).toMatchObject({ state: 'SUBMITTING', submissions: 1 })
        }
      }
      const inFlight = (await store.counts())
        .filter((c) => c.state === 'SUBMITTING')
        .reduce((n, c) => n + c.n, 0)
      expect(inFlight).toBe(10)
      // the link is full: a second cycle claims nothing
      expect((await store.claimForSubmissions([spec({ user: 'bob', limit: 6 })]))[0]).toEqual([])
    })

    it('marks a job SUBMITTED only once none of its files is SUBMITTING, outcomes first or mark first', async () => {
      store = await factory.open()
      await store.inject(items(8), { now: 1000, actor: 'test', maxAttempts: 3 })
      const [jobs] = await store.claimForSubmissions([spec({ limit: 8, maxFilesPerJob: 4 })])
      const [partial, whole] = jobs!
      const done = (job: typeof partial, n: number) =>
        job!.transfers.slice(0, n).map((t) => ({
          jobId: job!.jobId,
          transferId: t.id,
          attempt: 1,
          result: 'done' as const,
          reason: 'ok',
        }))
      const jobState = async (jobId: string) =>
        (
          await (store as KyselyStore).db
            .selectFrom('engine_jobs')
            .select('state')
            .where('job_id', '=', jobId)
            .executeTakeFirstOrThrow()
        ).state
      // outcomes for two of four files before the mark: those are done, the job waits for its mark
      await store.recordOutcomes(done(partial, 2), testOutcomePolicy(3000))
      expect(await jobState(partial!.jobId)).toBe('SUBMITTING')
      // a kill of a third file while it is being submitted: the mark reports it for a cancel
      await store.kill({ ids: [partial!.transfers[2]!.id] }, 'not needed', 3500, 'alice')
      // outcomes for all four of the other job: accepted and over at once, and its mark finds nothing to do
      await store.recordOutcomes(done(whole, 4), testOutcomePolicy(3000))
      expect(await jobState(whole!.jobId)).toBe('FINISHED')
      const marked = await store.markSubmitted([partial!.jobId, whole!.jobId], 4000, 'agent-1')
      expect(marked.get(partial!.jobId)).toEqual({ submitted: 1, killing: [partial!.transfers[2]!.id] })
      expect(marked.get(whole!.jobId)).toEqual({ submitted: 0, killing: [] })
      expect(await jobState(partial!.jobId)).toBe('SUBMITTED')
      const states = await Promise.all(partial!.transfers.map(async (t) => (await store.get(t.id))!.state))
      expect(states).toEqual(['DONE', 'DONE', 'KILLING', 'SUBMITTED'])
      for (const t of whole!.transfers) {
        expect((await store.history(t.id)).map((e) => e.to)).toEqual([
          'NEW',
          'SUBMITTING',
          'SUBMITTED',
          'DONE',
        ])
      }
    })
  })
}
