/**
 * The store tells of records entering DONE, FAILED or KILLED once each, after the commit and never for a
 * transaction rolled back: what the per-link counters and the "transfer ended" lines count (SQLite and
 * PostgreSQL).
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { storeContext } from '../../src/store/context.js'
import { postgresOps, sqliteOps } from '../../src/store/dialect.js'
import type { KyselyStore, Store } from '../../src/store/store.js'
import { type EndedTransfer, transition } from '../../src/store/transition.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories } from '../support/stores.js'

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`ended records (${factory.name})`, () => {
    let store: Store
    afterEach(async () => {
      await store?.close()
    })

    it('tells each ended record once, after the commit, with its link, class, bytes and times', async () => {
      store = await factory.open()
      const heard: EndedTransfer[][] = []
      const stop = store.onEnded((e) => heard.push([...e]))
      const batch = items(3)
      await store.inject(batch, { now: 1000, actor: 'test', maxAttempts: 3 })
      await store.kill({ ids: [batch[0]!.id] }, 'not needed', 5000, 'alice')
      expect(heard).toHaveLength(1)
      expect(heard[0]).toEqual([
        expect.objectContaining({
          id: batch[0]!.id,
          state: 'KILLED',
          from: 'NEW',
          failureClass: 'killed',
          bytes: 1000,
          createdAt: 1000,
          endedAt: 5000,
          actor: 'alice',
        }),
      ])
      // nothing ends (already KILLED): nothing told
      await store.kill({ ids: [batch[0]!.id] }, 'again', 6000, 'alice')
      expect(heard).toHaveLength(1)
      // no longer listening: not told
      stop()
      await store.kill({ ids: [batch[2]!.id] }, 'unheard', 8000, 'alice')
      expect(heard).toHaveLength(1)
    })

    it('tells nothing of a transaction rolled back, and once of one that committed', async () => {
      store = await factory.open()
      const batch = items(1)
      await store.inject(batch, { now: 1000, actor: 'test', maxAttempts: 3 })
      const s = storeContext(
        (store as KyselyStore).db,
        factory.name === 'postgres' ? postgresOps : sqliteOps,
        (store as KyselyStore).policy,
      )
      const heard: EndedTransfer[] = []
      s.endedListeners.add((e) => heard.push(...e))
      const kill = (trx: Parameters<Parameters<typeof s.tx>[0]>[0]) =>
        transition(trx, {
          event: 'killQueued',
          from: 'NEW',
          ids: [batch[0]!.id],
          set: { failure_class: 'killed' },
          reason: 'test',
          actor: 'test',
          now: 2000,
        })
      await expect(
        s.tx(async (trx) => {
          await kill(trx)
          throw new Error('rolled back')
        }),
      ).rejects.toThrow('rolled back')
      expect(heard).toEqual([])
      expect((await store.get(batch[0]!.id))!.state).toBe('NEW')
      // a listener that throws does not fail the committed operation
      s.endedListeners.add(() => {
        throw new Error('listener broke')
      })
      await s.tx(kill)
      expect(heard.map((e) => [e.id, e.state])).toEqual([[batch[0]!.id, 'KILLED']])
      expect((await store.get(batch[0]!.id))!.state).toBe('KILLED')
    })
  })
}
