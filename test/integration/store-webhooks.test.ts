/**
 * The store's side of the API, on every dialect: the webhook outbox is written in the transaction of each
 * terminal transition (outcomes, kill, refused submission) and only for files with a callback URL; its rows
 * are claimed by one notifier at a time; and the reads the API needs (callback URLs and failure reasons of a
 * task, failure classes, the newest event id).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories, testOutcomePolicy } from '../support/stores.js'

const HOOK = 'https://hooks.example.org/aso'

const policy = testOutcomePolicy

async function claim(store: Store, now: number) {
  return store.claimForSubmission({
    source: 'A',
    destination: 'B',
    user: 'alice',
    group: null,
    role: null,
    limit: 1000,
    maxActive: 1000,
    maxFilesPerJob: 100,
    engine: 'local',
    agentId: 'agent-1',
    now,
    jobIdFor: (sid) => `job-${sid.slice(0, 12)}`,
  })
}

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`store API reads and webhook outbox (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    it('writes a notification with each terminal transition of a file with a callback URL, and only then', async () => {
      store = await factory.open()
      // files 0-5 carry a callback URL, 6-7 do not
      const batch = items(8, (i) => (i < 6 ? { callbackUrl: HOOK } : {}))
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 1 })
      expect(await store.taskCallbackUrls('task1', 'alice', 5)).toEqual(expect.arrayContaining([HOOK, null]))
      expect(await store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })

      // killed while queued: KILLED at once, notified
      await store.kill({ ids: [batch[0]!.id, batch[6]!.id] }, 'not needed', 2, 'test')
      const [job] = await claim(store, 3)
      // a submission refused for good
      await store.rejectSubmission(
        job!.jobId,
        [{ id: batch[3]!.id, class: 'permanent-destination', reason: 'DESTINATION [13] Permission denied' }],
        3,
        'agent-1',
      )

      await store.markSubmitted([job!.jobId], 4, 'agent-1')
      const byId = new Map(job!.transfers.map((t) => [t.id, t]))
      const outcome = (i: number, result: 'done' | 'failed', reason: string) => ({
        jobId: job!.jobId,
        transferId: batch[i]!.id,
        attempt: byId.get(batch[i]!.id)!.attempt,
        result,
        reason,
      })
      const summary = await store.recordOutcomes(
        [
          outcome(1, 'done', ''),
          outcome(2, 'failed', 'SOURCE [2] No such file or directory'),
          outcome(7, 'done', ''),
        ],
        policy(5),
      )
      expect(summary.terminal).toHaveLength(3)
      const due = await store.dueWebhooks(10, 100, 60_000)
      const payloads = due.map(
        (d) => JSON.parse(d.payload) as { id: string; state: string; failureClass: string },
      )
      expect(due.every((d) => d.url === HOOK && d.attempts === 0)).toBe(true)
      expect(payloads.map((p) => [p.id, p.state, p.failureClass]).sort()).toEqual(
        [
          [batch[0]!.id, 'KILLED', 'killed'],
          [batch[1]!.id, 'DONE', null],
          [batch[2]!.id, 'FAILED', 'permanent-source'],
          [batch[3]!.id, 'FAILED', 'permanent-destination'],
        ].sort(),
      )
      // claimed: another notifier gets nothing until the lease passes
      expect(await store.dueWebhooks(11, 100, 60_000)).toEqual([])
      expect((await store.dueWebhooks(60_011, 100, 60_000)).map((d) => d.id).sort()).toEqual(
        due.map((d) => d.id).sort(),
      )

      const [a, b, c, d] = due
      await store.recordWebhookAttempts(
        [
          { id: a!.id, outcome: 'delivered' },
          { id: b!.id, outcome: 'retry', nextAttemptAt: 70_000, error: 'ECONNREFUSED' },
          { id: c!.id, outcome: 'failed', error: 'HTTP 500 (gave up after 1 attempts)' },
          { id: d!.id, outcome: 'retry', nextAttemptAt: 200_000, error: 'HTTP 503' },
        ],
        60_020,
      )
      expect(await store.webhookBacklog()).toEqual({ pending: 2, failed: 1 })
      const again = await store.dueWebhooks(70_000, 100, 60_000)
      expect(again.map((x) => [x.id, x.attempts])).toEqual([[b!.id, 1]])
      expect(await store.pruneDeliveredWebhooks(100)).toBe(1)
    })

    it('gives each notification a webhook id of its own, the same on every claim of it', async () => {
      store = await factory.open()
      const batch = items(3, () => ({ callbackUrl: HOOK }))
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 1 })
      // two events of the same transfer: killed, retried, killed again
      await store.kill({ ids: [batch[0]!.id, batch[1]!.id] }, 'not needed', 2, 'test')
      expect((await store.retry({ ids: [batch[0]!.id] }, 3, 'test')).retried).toBe(1)
      await store.kill({ ids: [batch[0]!.id] }, 'not needed after all', 4, 'test')

      const due = await store.dueWebhooks(10, 100, 60_000)
      expect(due.map((d) => d.transferId).sort()).toEqual([batch[0]!.id, batch[0]!.id, batch[1]!.id].sort())
      const ids = due.map((d) => d.messageId)
      expect(ids.every((id) => /^msg_\w+$/.test(id))).toBe(true)
      expect(new Set(ids).size).toBe(3)

      // a notifier that died mid-delivery: the rows are claimed again with the same ids
      const again = await store.dueWebhooks(60_010, 100, 60_000)
      expect(again.map((d) => [d.id, d.messageId])).toEqual(due.map((d) => [d.id, d.messageId]))
      // and after a failed attempt, the retry carries the same id too
      await store.recordWebhookAttempts(
        again.map((d) => ({ id: d.id, outcome: 'retry' as const, nextAttemptAt: 70_000, error: 'HTTP 500' })),
        60_020,
      )
      const retried = await store.dueWebhooks(70_000, 100, 60_000)
      expect(retried.map((d) => [d.messageId, d.attempts])).toEqual(due.map((d) => [d.messageId, 1]))
    })

    it('reads failure reasons and classes of a task, and the newest event id', async () => {
      store = await factory.open()
      expect(await store.latestEventId()).toBe(0)
      const batch = items(4)
      await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 1 })
      const [job] = await claim(store, 2)
      await store.markSubmitted([job!.jobId], 3, 'agent-1')
      const attempt = (id: string) => job!.transfers.find((t) => t.id === id)!.attempt
      await store.recordOutcomes(
        batch.slice(0, 3).map((x) => ({
          jobId: job!.jobId,
          transferId: x.id,
          attempt: attempt(x.id),
          result: 'failed' as const,
          reason: 'SOURCE [2] No such file or directory',
        })),
        policy(4),
      )
      expect(await store.taskFailureReasons('task1', undefined, 10)).toEqual([
        {
          state: 'FAILED',
          failureClass: 'permanent-source',
          reason: 'SOURCE [2] No such file or directory',
          n: 3,
        },
      ])
      expect(await store.taskFailureReasons('task1', 'bob', 10)).toEqual([])
      expect(await store.failureClassCounts()).toEqual([
        { state: 'FAILED', failureClass: 'permanent-source', n: 3 },
      ])
      const events = await store.eventsSince(0, {}, 1000)
      expect(await store.latestEventId()).toBe(events.at(-1)!.id)
      expect(await store.eventsSince(0, { task: 'task1' }, 1000)).toHaveLength(events.length)
    })
  })
}
