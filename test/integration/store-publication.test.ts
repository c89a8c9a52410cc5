/**
 * Publication in the store, on SQLite and PostgreSQL: blocks never grow past their size, even when two
 * publishers fill at once (a leader hand-over); a block's members are fixed when it closes; each change is
 * guarded by the publication state it expects and leaves one history row per file carrying the new state;
 * a failed transfer is never published, and a retried one is publishable again.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories, testOutcomePolicy } from '../support/stores.js'

const DS = '/Higgs/ana-v1/USER'
const key = {
  user: 'alice',
  dataset: DS,
  destination: 'B',
  scope: 'user.alice',
  rse: 'B',
  ruleAccount: 'alice',
}

afterAll(closeStoreFactories)

/** n publishable files of alice, DONE (or FAILED for the ids in `fail`). */
async function delivered(store: Store, n: number, fail: readonly number[] = []): Promise<string[]> {
  const batch = items(n, () => ({ publish: true, dataset: DS }))
  await store.inject(batch, { now: 1, actor: 'test', maxAttempts: 1 })
  const jobs = await store.claimForSubmission({
    source: 'A',
    destination: 'B',
    user: 'alice',
    group: null,
    role: null,
    limit: n,
    maxActive: n,
    maxFilesPerJob: n,
    engine: 'local',
    agentId: 'agent-1',
    now: 2,
    jobIdFor: (sid) => `job-${sid.slice(0, 12)}`,
  })
  await store.markSubmitted(
    jobs.map((j) => j.jobId),
    3,
    'agent-1',
  )
  await store.recordOutcomes(
    jobs.flatMap((j) =>
      j.transfers.map((t) => {
        const failed = fail.includes(batch.findIndex((b) => b.id === t.id))
        return {
          jobId: j.jobId,
          transferId: t.id,
          attempt: 1,
          result: failed ? ('failed' as const) : ('done' as const),
          reason: failed ? 'SOURCE [2] No such file or directory' : '',
        }
      }),
    ),
    testOutcomePolicy(4),
  )
  return batch.map((b) => b.id)
}

for (const factory of storeFactories()) {
  describe(`publication in the store (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    it('two publishers filling at once never put a file in two blocks nor a block past its size', async () => {
      store = await factory.open()
      const ids = await delivered(store, 230)
      const fill = (tag: string) =>
        store.fillBlocks([{ key, ids, newNames: Array.from({ length: 6 }, (_, i) => `${DS}_${tag}${i}`) }], {
          maxFiles: 50,
          now: 10,
          actor: tag,
        })
      const [a, b] = await Promise.all([fill('a'), fill('b')])
      const joined = [...a, ...b].flatMap((j) => j.ids)
      expect(joined.sort()).toEqual([...ids].sort())
      const records = await store.getMany(ids)
      const sizes = new Map<string, number>()
      for (const r of records) sizes.set(r.blockName!, (sizes.get(r.blockName!) ?? 0) + 1)
      expect(Math.max(...sizes.values())).toBeLessThanOrEqual(50)
      expect([...sizes.values()].reduce((x, y) => x + y, 0)).toBe(230)
      // only one block is left open to fill on: the others are full
      const open = await store.openBlocks()
      expect(open.filter((o) => o.files < 50).length).toBeLessThanOrEqual(1)
      for (const o of open)
        expect(await store.blockView(o.name)).toMatchObject({ state: 'OPEN', files: o.files })
    })

    it('closes, publishes and fails with guarded changes and one history row per file carrying the new state', async () => {
      store = await factory.open()
      const ids = await delivered(store, 5, [4])
      const done = ids.slice(0, 4)
      expect((await store.get(ids[4]!))!).toMatchObject({ state: 'FAILED', publicationState: 'NOT_REQUIRED' })
      expect((await store.readyForBlocks(100)).map((r) => r.id).sort()).toEqual([...done].sort())
      await store.fillBlocks([{ key, ids: done, newNames: [`${DS}_b1`] }], {
        maxFiles: 50,
        now: 10,
        actor: 'p',
      })
      expect(await store.openBlocks()).toEqual([
        expect.objectContaining({ name: `${DS}_b1`, files: 4, waiting: 0 }),
      ])
      expect(
        await store.startPublishing(`${DS}_b1`, { reason: 'complete', description: 'complete' }, 11, 'p'),
      ).toBe(4)
      // a second close of the same block changes nothing
      expect(
        await store.startPublishing(`${DS}_b1`, { reason: 'complete', description: 'complete' }, 12, 'p'),
      ).toBe(0)
      const due = await store.duePublications(11, 10)
      expect(due.map((d) => [d.name, d.files.length, d.attempts])).toEqual([[`${DS}_b1`, 4, 0]])

      await store.recordPublishFailure(
        `${DS}_b1`,
        { failureClass: 'catalog-transient', reason: 'Rucio unreachable', retryAt: 100 },
        20,
        'p',
      )
      expect(await store.duePublications(99, 10)).toEqual([])
      expect((await store.duePublications(100, 10))[0]!.attempts).toBe(1)
      await store.recordPublished(
        `${DS}_b1`,
        { published: done.slice(0, 3), rejected: [{ id: done[3]!, reason: 'other adler32' }], ruleId: 'r1' },
        101,
        'p',
      )
      const byId = new Map((await store.getMany(done)).map((r) => [r.id, r]))
      expect(done.map((id) => byId.get(id)!.publicationState)).toEqual([
        'PUBLISHED',
        'PUBLISHED',
        'PUBLISHED',
        'FAILED',
      ])
      expect(await store.publicationCounts({ user: 'alice' })).toMatchObject({
        PUBLISHED: 3,
        FAILED: 1,
        PENDING: 0,
        PUBLISHING: 0,
      })
      const history = (await store.history(done[0]!)).filter((e) => e.reason.startsWith('publication'))
      expect(history.map((e) => e.reason)).toEqual([
        `publication: joined block ${DS}_b1`,
        `publication: block ${DS}_b1 closed (complete); registering it in the catalog`,
        expect.stringMatching(
          /^publication of block .* deferred \(catalog-transient\): Rucio unreachable; next try at /,
        ),
        `publication: published in block ${DS}_b1`,
      ])
      // a second record of the same outcome changes nothing
      await store.recordPublished(`${DS}_b1`, { published: done, rejected: [], ruleId: 'r1' }, 102, 'p')
      expect((await store.get(done[3]!))!.publicationState).toBe('FAILED')

      // the failed transfer is retried: publishable again; the refused file joins a new block on a retry
      await store.retry({ ids: [ids[4]!] }, 200, 'alice')
      expect((await store.get(ids[4]!))!.publicationState).toBe('PENDING')
      expect(await store.retryPublications({ ids: [done[3]!] }, 201, 'alice')).toEqual({
        republished: 0,
        requeued: 1,
        blocks: 0,
        notFailed: 0,
      })
      expect((await store.readyForBlocks(10)).map((r) => r.id)).toEqual([done[3]])
    })
  })
}
