/**
 * Adaptive link limits in the store (migration 0008), on SQLite and PostgreSQL: the activity read per link from
 * the event log (copies done, transient failures) from a cursor on, the tuner's limit reaching linkSettings()
 * without touching the operator's columns, decisions newest first, and an operator's pin and unpin.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories } from '../support/stores.js'

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`adaptive link limits in the store (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    /** `n` files of A->`destination` claimed, submitted and ended with `result` at `now`. */
    async function copies(
      n: number,
      destination: string,
      result: 'done' | 'failed',
      now: number,
      job: string,
    ) {
      const batch = items(n, (i) => ({
        destination,
        sourceLfn: `/store/temp/user/alice.abc/${job}-${i}.root`,
        destinationLfn: `/store/user/alice/${job}-${i}.root`,
      }))
      await store.inject(batch, { now, actor: 'test', maxAttempts: 3 })
      const [claimed] = await store.claimForSubmission({
        source: 'A',
        destination,
        user: 'alice',
        group: null,
        role: null,
        limit: n,
        maxActive: 1000,
        maxFilesPerJob: 1000,
        engine: 'local',
        agentId: 'a1',
        now,
        jobIdFor: () => job,
      })
      await store.markSubmitted([claimed!.jobId], now, 'a1')
      await store.recordOutcomes(
        claimed!.transfers.map((t) => ({
          jobId: job,
          transferId: t.id,
          attempt: t.attempt,
          result,
          reason: result === 'done' ? '' : 'TRANSFER [5] scripted failure',
        })),
        {
          now,
          actor: 'a1',
          backoff: { initialMs: 60_000, factor: 4, maxMs: 7_200_000, jitter: 0 },
          quotaRecheck: 1_800_000,
          maxHold: 172_800_000,
        },
      )
    }

    it('reads copies done and transient failures per link from a cursor on', async () => {
      store = await factory.open()
      await copies(2, 'B', 'done', 1000, 'before')
      const start = await store.linkActivitySince(null)
      expect(start.links.size).toBe(0)
      await copies(3, 'B', 'done', 2000, 'j1')
      await copies(2, 'C', 'failed', 2000, 'j2')
      const r = await store.linkActivitySince(start.cursor)
      expect(Object.fromEntries(r.links)).toEqual({
        'A->B': { doneFiles: 3, doneBytes: 1000 * 3 + 0 + 1 + 2, transientFailures: 0 },
        'A->C': { doneFiles: 0, doneBytes: 0, transientFailures: 2 },
      })
      // nothing new since: nothing counted twice
      expect((await store.linkActivitySince(r.cursor)).links.size).toBe(0)
    })

    it("stores the tuner's limit beside the operator's setting, with decisions, and unpins", async () => {
      store = await factory.open()
      await store.setLinkSetting('A->B', { paused: true }, 'ops', 100)
      await store.recordLinkTuning({
        link: 'A->B',
        limit: 7,
        state: '{"limit":7}',
        now: 200,
        decision: { at: 200, link: 'A->B', from: 5, to: 7, reason: 'grew', measurements: { throughput: 10 } },
      })
      await store.recordLinkTuning({ link: 'A->C', limit: 3, state: '{}', now: 250, decision: null })
      await store.recordLinkTuning({
        link: 'A->B',
        limit: 5,
        state: '{"limit":5}',
        now: 300,
        decision: { at: 300, link: 'A->B', from: 7, to: 5, reason: 'fell', measurements: {} },
      })
      const settings = await store.linkSettings()
      expect(settings.find((s) => s.link === 'A->B')).toEqual({
        link: 'A->B',
        maxActive: null,
        paused: true,
        adaptiveActive: 5,
      })
      expect(settings.find((s) => s.link === 'A->C')).toMatchObject({ paused: false, adaptiveActive: 3 })
      expect((await store.linkDecisions('A->B', 10)).map((d) => [d.at, d.from, d.to, d.reason])).toEqual([
        [300, 7, 5, 'fell'],
        [200, 5, 7, 'grew'],
      ])
      expect((await store.linkDecisions(null, 1))[0]).toMatchObject({ link: 'A->B', at: 300 })
      expect((await store.tunedLinks()).find((t) => t.link === 'A->B')).toEqual({
        link: 'A->B',
        adaptiveActive: 5,
        state: '{"limit":5}',
        tunedAt: 300,
      })

      // an operator's limit pins; the tuner's writes leave it; unpin clears it
      await store.setLinkSetting('A->B', { maxActive: 2 }, 'ops', 400)
      await store.recordLinkTuning({ link: 'A->B', limit: 6, state: '{}', now: 500, decision: null })
      expect((await store.linkSettings()).find((s) => s.link === 'A->B')).toMatchObject({
        maxActive: 2,
        adaptiveActive: 6,
      })
      await store.setLinkSetting('A->B', { maxActive: null }, 'ops', 600)
      expect((await store.linkSettings()).find((s) => s.link === 'A->B')).toMatchObject({
        maxActive: null,
        paused: true,
        adaptiveActive: 6,
      })
    })
  })
}
