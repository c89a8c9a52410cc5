import fc from 'fast-check'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { allowedEdges } from '../../src/domain/states.js'
import type { Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories, testOutcomePolicy } from '../support/stores.js'

const policy = testOutcomePolicy

const claimAll = (
  store: Store,
  now: number,
  opts: { limit?: number; maxActive?: number; maxFilesPerJob?: number } = {},
) =>
  store.claimForSubmission({
    source: 'A',
    destination: 'B',
    user: 'alice',
    group: null,
    role: null,
    limit: opts.limit ?? 1000,
    maxActive: opts.maxActive ?? 1000,
    maxFilesPerJob: opts.maxFilesPerJob ?? 100,
    engine: 'local',
    agentId: 'agent-1',
    now,
    jobIdFor: (sid) => `job-${sid.slice(0, 12)}`,
  })

/** The rollup must always equal a count of the records themselves. */
async function expectCountsConsistent(store: Store) {
  const all = (await store.list({ limit: 100_000 })).items
  const actual = new Map<string, number>()
  for (const t of all) actual.set(`${t.user}/${t.state}`, (actual.get(`${t.user}/${t.state}`) ?? 0) + 1)
  const rollup = new Map<string, number>()
  for (const c of await store.counts())
    rollup.set(`${c.user}/${c.state}`, (rollup.get(`${c.user}/${c.state}`) ?? 0) + c.n)
  expect(Object.fromEntries(rollup)).toEqual(Object.fromEntries(actual))
}

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`store (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    it('injects, leaves identical requests alone, and names the fields of a conflict', async () => {
      store = await factory.open()
      const batch = items(3)
      const first = await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      expect(first.map((r) => r.status)).toEqual(['created', 'created', 'created'])
      const again = await store.inject(batch, { now: 2, actor: 'test', maxAttempts: 3 })
      expect(again.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged'])
      const changed = items(1, () => ({ size: 5, task: 'other' }))
      const conflict = await store.inject(changed, { now: 3, actor: 'test', maxAttempts: 3 })
      expect(conflict[0]!.status).toBe('rejected')
      expect(conflict[0]!.error!.message).toMatch(/task.*size|size.*task/)
      expect((await store.get(batch[0]!.id))!.size).toBe(1000)
      await expectCountsConsistent(store)
    })

    it('stores ten thousand requests in one call', async () => {
      store = await factory.open()
      const batch = items(10_000)
      const r = await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      expect(r.filter((x) => x.status === 'created')).toHaveLength(10_000)
      expect((await store.counts()).find((c) => c.state === 'NEW')!.n).toBe(10_000)
    })

    it('supersedes an older job retry: a DONE file goes back to NEW with attempts reset', async () => {
      store = await factory.open()
      const [item] = items(1)
      await store.inject([item!], { now: 1, actor: 'test', maxAttempts: 3 })
      const [job] = await claimAll(store, 2)
      await store.markSubmitted([job!.jobId], 3, 'agent-1')
      await store.recordOutcomes(
        [{ jobId: job!.jobId, transferId: item!.id, attempt: 1, result: 'done', reason: 'ok' }],
        policy(4),
      )
      expect((await store.get(item!.id))!.state).toBe('DONE')
      const [newer] = items(1, () => ({ jobRetry: 1, size: 77 }))
      const r = await store.inject([newer!], { now: 5, actor: 'test', maxAttempts: 3 })
      expect(r[0]!.status).toBe('superseded')
      const rec = (await store.get(item!.id))!
      expect([rec.state, rec.attempt, rec.size, rec.jobRetry, rec.sourceCleanup]).toEqual([
        'NEW',
        1,
        77,
        1,
        'NONE',
      ])
      await expectCountsConsistent(store)
    })

    it('supersedes an attempt in flight through KILLING, then queues the newer job retry', async () => {
      store = await factory.open()
      const [item] = items(1)
      await store.inject([item!], { now: 1, actor: 'test', maxAttempts: 3 })
      const [job] = await claimAll(store, 2)
      await store.markSubmitted([job!.jobId], 3, 'agent-1')
      const [newer] = items(1, () => ({ jobRetry: 2 }))
      expect((await store.inject([newer!], { now: 4, actor: 'test', maxAttempts: 3 }))[0]!.status).toBe(
        'superseded',
      )
      expect((await store.get(item!.id))!.state).toBe('KILLING')
      expect((await store.pendingCancels(10)).map((p) => p.ids)).toEqual([[item!.id]])
      await store.recordOutcomes(
        [
          {
            jobId: job!.jobId,
            transferId: item!.id,
            attempt: 1,
            result: 'killed',
            reason: 'Job canceled by the user',
          },
        ],
        policy(5),
      )
      const rec = (await store.get(item!.id))!
      expect([rec.state, rec.jobRetry, rec.supersedePending]).toEqual(['NEW', 2, false])
      await expectCountsConsistent(store)
    })

    it('claims never let a link exceed its limit, best priority first, in jobs of maxFilesPerJob', async () => {
      store = await factory.open()
      const batch = items(30, (i) => ({ priority: i === 29 ? 5 : 3 }))
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      const jobs = await claimAll(store, 2, { limit: 25, maxActive: 10, maxFilesPerJob: 4 })
      expect(jobs.map((j) => j.transfers.length)).toEqual([4, 4, 2])
      expect(jobs[0]!.transfers.map((t) => t.id)).toContain(batch[29]!.id)
      expect(await claimAll(store, 3, { maxActive: 10 })).toEqual([])
      expect((await store.inFlightByLink()).get('A->B')).toBe(10)
      // the job id is stored before any engine call (mark before call)
      const rec = (await store.get(jobs[0]!.transfers[0]!.id))!
      expect([rec.state, rec.engineJobId, rec.submissions]).toEqual(['SUBMITTING', jobs[0]!.jobId, 1])
    })

    it('applies outcomes: done, retry with backoff, permanent failure, attempts used up, queue timeout, quota hold', async () => {
      store = await factory.open()
      const batch = items(6)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 2 })
      const [job] = await claimAll(store, 2)
      const id = (i: number) => batch[i]!.id
      const o = (i: number, result: FileOutcome['result'], reason: string): FileOutcome => ({
        jobId: job!.jobId,
        transferId: id(i),
        attempt: 1,
        result,
        reason,
      })
      // outcomes arriving before markSubmitted still count: the engine evidently had the job
      const summary = await store.recordOutcomes(
        [
          o(0, 'done', 'copied'),
          o(1, 'failed', 'TRANSFER [110] Operation timed out'),
          o(2, 'failed', 'SOURCE [2] No such file or directory'),
          o(
            3,
            'failed',
            'Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)',
          ),
          o(4, 'failed', 'DESTINATION [28] Disk quota exceeded'),
          o(5, 'interrupted', 'agent shutting down'),
        ],
        policy(10),
      )
      expect(summary.applied).toBe(6)
      const recs = await Promise.all(batch.map((b) => store.get(b.id)))
      expect(recs.map((r) => r!.state)).toEqual(['DONE', 'RETRY', 'FAILED', 'NEW', 'NEW', 'NEW'])
      expect(recs[1]!.nextAttemptAt).toBe(10 + 1000)
      expect(recs[2]!.failureClass).toBe('permanent-source')
      expect(recs[3]!.attempt).toBe(1)
      expect(recs[4]!.holdReason).toMatch(/^quota/)
      expect((await store.activeHolds(11)).map((h) => [h.user, h.site, h.class])).toEqual([
        ['alice', 'B', 'quota'],
      ])
      expect(recs[0]!.sourceCleanup).toBe('PENDING')
      // a late duplicate is ignored
      expect((await store.recordOutcomes([o(0, 'failed', 'TRANSFER [5] late')], policy(12))).ignored).toBe(1)
      // the retry's second attempt fails too: attempts are used up
      expect(await store.promoteDueRetries(2000, 10, 'test')).toBe(1)
      const [job2] = await claimAll(store, 2001)
      const again = job2!.transfers.find((t) => t.id === id(1))!
      expect(again.attempt).toBe(2)
      await store.recordOutcomes(
        [
          {
            jobId: job2!.jobId,
            transferId: id(1),
            attempt: 2,
            result: 'failed',
            reason: 'TRANSFER [110] Operation timed out',
          },
        ],
        policy(2002),
      )
      expect((await store.get(id(1)))!.state).toBe('FAILED')
      await expectCountsConsistent(store)
    })

    it('kills queued files at once and in-flight files through KILLING; retries FAILED and KILLED, refuses DONE', async () => {
      store = await factory.open()
      const batch = items(4)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      const [job] = await claimAll(store, 2, { limit: 2 })
      await store.markSubmitted([job!.jobId], 3, 'a')
      const killed = await store.kill({ task: 'task1' }, 'killed by test', 4, 'test')
      expect(killed).toEqual({ killed: 2, killing: 2 })
      const cancels = await store.pendingCancels(10)
      expect(cancels).toHaveLength(1)
      await store.markCancelSent(job!.jobId, 5)
      expect(await store.pendingCancels(10)).toHaveLength(0)
      expect(await store.confirmKilled(cancels[0]!.ids, 'Job canceled by the user', 6, 'test')).toBe(2)
      expect((await store.counts()).filter((c) => c.n).map((c) => c.state)).toEqual(['KILLED'])
      expect(await store.retry({ ids: [batch[0]!.id] }, 7, 'test')).toEqual({ retried: 1, refused: 0 })
      const rec = (await store.get(batch[0]!.id))!
      expect([rec.state, rec.attempt, rec.failureClass]).toEqual(['NEW', 1, null])
      // a user may only act on their own files
      expect(await store.kill({ task: 'task1', user: 'bob' }, 'x', 8, 'bob')).toEqual({
        killed: 0,
        killing: 0,
      })
      await expectCountsConsistent(store)
    })

    it('requeues the files of a lost engine job without charging an attempt, and hands jobs of dead agents over', async () => {
      store = await factory.open()
      const batch = items(3)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      const [job] = await claimAll(store, 2)
      await store.markSubmitted([job!.jobId], 3, 'agent-1')
      expect(await store.orphanedJobs(['agent-1'], 10)).toEqual([])
      expect(await store.orphanedJobs(['agent-2'], 10)).toEqual([job!.jobId])
      expect(await store.takeOverJobs([job!.jobId], 'agent-2', 4)).toEqual([job!.jobId])
      // taken once: a second taker gets nothing
      expect(await store.takeOverJobs([job!.jobId], 'agent-2', 4)).toEqual([])
      expect((await store.get(batch[0]!.id))!.agentId).toBe('agent-2')
      expect((await store.history(batch[0]!.id)).at(-1)!.reason).toMatch(/taken over by agent agent-2/)
      expect(await store.requeueLostJob(job!.jobId, 'engine job unknown', 5, 'agent-2')).toBe(3)
      const rec = (await store.get(batch[0]!.id))!
      expect([rec.state, rec.attempt]).toEqual(['NEW', 1])
      const [job2] = await claimAll(store, 6)
      expect(job2!.jobId).not.toBe(job!.jobId)
    })

    it('schedules clean-up of the temporary source: at once after DONE, after the retention after FAILED', async () => {
      store = await factory.open({ deleteSourceOnDone: true, tempRetention: 1000 })
      const batch = items(2)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 1 })
      const [job] = await claimAll(store, 2)
      await store.recordOutcomes(
        [
          { jobId: job!.jobId, transferId: batch[0]!.id, attempt: 1, result: 'done', reason: 'ok' },
          {
            jobId: job!.jobId,
            transferId: batch[1]!.id,
            attempt: 1,
            result: 'failed',
            reason: 'DESTINATION [13] Permission denied',
          },
        ],
        policy(10),
      )
      expect((await store.dueCleanups(10, 10)).map((c) => c.id)).toEqual([batch[0]!.id])
      expect((await store.dueCleanups(1010, 10)).map((c) => c.id).sort()).toEqual(
        [batch[0]!.id, batch[1]!.id].sort(),
      )
      await store.recordCleanup([{ id: batch[0]!.id, outcome: 'DONE', reason: 'removed' }], 11, 'test')
      expect((await store.get(batch[0]!.id))!.sourceCleanup).toBe('DONE')
      expect(await store.dueCleanups(1010, 10)).toHaveLength(1)
    })

    it('a leader lease has one holder at a time: renewed by it, free again once expired or released', async () => {
      store = await factory.open()
      expect(await store.acquireLease('leader', 'a', 1000, 10)).toBe(true)
      expect(await store.acquireLease('leader', 'b', 1000, 500)).toBe(false)
      // renewed by its holder: until 1900
      expect(await store.acquireLease('leader', 'a', 1000, 900)).toBe(true)
      expect(await store.acquireLease('leader', 'b', 1000, 1500)).toBe(false)
      expect(await store.acquireLease('leader', 'b', 1000, 2000)).toBe(true)
      expect(await store.leases()).toEqual([{ name: 'leader', holder: 'b', until: 3000 }])
      expect(await store.releaseLeases(['b'])).toBe(1)
      expect(await store.acquireLease('leader', 'a', 1000, 2001)).toBe(true)
    })

    it('streams the history from any event on: resuming from the last id received repeats and skips nothing', async () => {
      store = await factory.open()
      const batch = items(7)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 3 })
      const [job] = await claimAll(store, 2, { maxFilesPerJob: 3 })
      await store.markSubmitted([job!.jobId], 3, 'agent-1')
      const all = await store.eventsSince(0, {}, 1000)
      // 7 injected, 7 claimed (in jobs of 3, 3 and 1), 3 submitted
      expect(all).toHaveLength(7 + 7 + 3)
      const seen: number[] = []
      let cursor = 0
      for (;;) {
        const page = await store.eventsSince(cursor, {}, 4)
        if (page.length === 0) break
        seen.push(...page.map((e) => e.id))
        cursor = page.at(-1)!.id
      }
      expect(seen).toEqual(all.map((e) => e.id))
      expect(await store.latestEventId()).toBe(all.at(-1)!.id)
      expect(await store.eventsSince(await store.latestEventId(), {}, 10)).toEqual([])
      const one = await store.eventsSince(0, { task: 'task1', user: 'alice' }, 1000)
      expect(one).toHaveLength(17)
    })

    it('pages through transfers with a cursor', async () => {
      store = await factory.open()
      await store.inject(items(25), { now: 1, actor: 'test', maxAttempts: 3 })
      const seen: string[] = []
      let cursor: string | undefined
      do {
        const page = await store.list({ limit: 10, ...(cursor ? { cursor } : {}) })
        seen.push(...page.items.map((t) => t.id))
        cursor = page.next ?? undefined
      } while (cursor)
      expect(new Set(seen).size).toBe(25)
    })

    it('property: no sequence of operations moves a record outside the transition table', async () => {
      const edges = allowedEdges()
      const op = fc.oneof(
        fc.record({ kind: fc.constant('inject' as const), i: fc.nat(5), jobRetry: fc.nat(2) }),
        fc.record({ kind: fc.constant('claim' as const), limit: fc.integer({ min: 1, max: 6 }) }),
        fc.record({ kind: fc.constant('submitted' as const) }),
        fc.record({
          kind: fc.constant('outcome' as const),
          i: fc.nat(5),
          result: fc.constantFrom('done', 'failed', 'killed', 'interrupted'),
          reason: fc.constantFrom(
            'TRANSFER [110] Operation timed out',
            'SOURCE [2] No such file or directory',
            'DESTINATION [28] Disk quota exceeded',
            'Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)',
          ),
        }),
        fc.record({ kind: fc.constant('retryDue' as const) }),
        fc.record({ kind: fc.constant('kill' as const), i: fc.nat(5) }),
        fc.record({ kind: fc.constant('confirmKilled' as const) }),
        fc.record({ kind: fc.constant('userRetry' as const), i: fc.nat(5) }),
        fc.record({ kind: fc.constant('lost' as const) }),
      )
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
          const s = await factory.open()
          try {
            let now = 1
            for (const o of ops) {
              now += 1000
              switch (o.kind) {
                case 'inject':
                  await s.inject(items(o.i + 1, () => ({ jobRetry: o.jobRetry })).slice(-1), {
                    now,
                    actor: 't',
                    maxAttempts: 2,
                  })
                  break
                case 'claim':
                  await claimAll(s, now, { limit: o.limit, maxActive: 4, maxFilesPerJob: 2 })
                  break
                case 'submitted':
                  for (const j of await s.openEngineJobs({
                    engine: 'local',
                    states: ['SUBMITTING'],
                    limit: 10,
                  })) {
                    await s.markSubmitted([j.jobId], now, 't')
                  }
                  break
                case 'outcome': {
                  const all = (await s.list({ limit: 100 })).items
                  const t = all[o.i % Math.max(1, all.length)]
                  if (t?.engineJobId) {
                    await s.recordOutcomes(
                      [
                        {
                          jobId: t.engineJobId,
                          transferId: t.id,
                          attempt: t.attempt,
                          result: o.result,
                          reason: o.reason,
                        },
                      ],
                      policy(now),
                    )
                  }
                  break
                }
                case 'retryDue':
                  await s.promoteDueRetries(now + 100_000, 10, 't')
                  break
                case 'kill':
                case 'userRetry': {
                  const all = (await s.list({ limit: 100 })).items
                  const t = all[o.i % Math.max(1, all.length)]
                  if (!t) break
                  if (o.kind === 'kill') await s.kill({ ids: [t.id] }, 'killed', now, 't')
                  else await s.retry({ ids: [t.id] }, now, 't')
                  break
                }
                case 'confirmKilled':
                  for (const p of await s.pendingCancels(10))
                    await s.confirmKilled(p.ids, 'Job canceled by the user', now, 't')
                  break
                case 'lost':
                  for (const j of await s.openEngineJobs({
                    engine: 'local',
                    states: ['SUBMITTED'],
                    limit: 10,
                  })) {
                    await s.requeueLostJob(j.jobId, 'lost', now, 't')
                  }
                  break
              }
            }
            for (const t of (await s.list({ limit: 100 })).items) {
              for (const e of await s.history(t.id)) {
                const edge = `${e.from}->${e.to}`
                const ok = e.from === null ? e.to === 'NEW' : e.from === e.to || edges.has(edge)
                expect(ok, `illegal transition ${edge} (${e.reason})`).toBe(true)
              }
            }
            await expectCountsConsistent(s)
          } finally {
            await s.close()
          }
        }),
        { numRuns: 60 },
      )
    })
  })
}
