/**
 * Task ownership in the store, on SQLite and PostgreSQL: a task belongs to the user of the first file
 * injected into it; two users racing to use one new task name get exactly one owner between them; and the
 * migration gives every existing task the user of its first-injected file as owner.
 */
import { Migrator } from 'kysely'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { migrationProvider } from '../../src/store/migrations/index.js'
import { openStore } from '../../src/store/open.js'
import type { InjectResult } from '../../src/store/ops/inject.js'
import type { KyselyStore, Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, storeFactories } from '../support/stores.js'

const opts = { now: 1, actor: 'test', maxAttempts: 3 }
/** Items of `user` in `task`, with their own file names (`tag`): distinct destinations from other calls. */
const filesOf = (n: number, user: string, task: string, tag: string) =>
  items(n, (i) => ({
    user,
    task,
    sourceLfn: `/store/temp/user/${user}.abc/${tag}-${i}.root`,
    destinationLfn: `/store/user/${user}/${tag}-${i}.root`,
  }))
const NEUTRAL = /^task "[^"]+" is already used by another user: choose another task name$/

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`task owners (${factory.name})`, () => {
    const opened: Store[] = []
    const open = async (url: string, migrate = true) => {
      const s = await openStore(url, { migrate })
      opened.push(s)
      return s as KyselyStore
    }
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close()
    })

    it('refuses another user’s files in a task, with a message that shows nothing of it', async () => {
      const store = await open(await factory.emptyDatabase())
      const alice = items(2, () => ({ task: 'shared', callbackUrl: 'https://127.0.0.1/alice-hook' }))
      expect((await store.inject(alice, opts)).map((r) => r.status)).toEqual(['created', 'created'])
      const bob = items(2, () => ({ user: 'bob', task: 'shared' }))
      const r = await store.inject(bob, opts)
      for (const x of r) {
        expect(x).toMatchObject({
          status: 'rejected',
          error: { field: 'task', message: expect.stringMatching(NEUTRAL) },
        })
        expect(JSON.stringify(x)).not.toMatch(/alice/)
      }
      // his other tasks are his, and her task stays hers
      expect(
        (
          await store.inject(
            items(1, () => ({ user: 'bob', task: 'bobs' })),
            opts,
          )
        )[0]!.status,
      ).toBe('created')
      expect(
        (
          await store.inject(
            items(3, () => ({ task: 'shared' })),
            opts,
          )
        )[2]!.status,
      ).toBe('created')
      expect((await store.list({ task: 'shared', limit: 100 })).items.map((t) => t.user)).toEqual(
        Array(3).fill('alice'),
      )
    })

    it('gives a new task exactly one owner when two users inject into it at once', async () => {
      const url = await factory.emptyDatabase()
      // PostgreSQL: two pools, transactions really at once. SQLite: one process has one connection (two would
      // block each other's thread on the file lock); across processes, BEGIN IMMEDIATE serialises them
      const s1 = await open(url)
      const s2 = factory.name === 'postgres' ? await open(url) : s1
      for (let round = 0; round < 8; round++) {
        const task = `race-${round}`
        const alice = filesOf(20, 'alice', task, task)
        const bob = filesOf(20, 'bob', task, task)
        const [a, b] = await Promise.all([s1.inject(alice, opts), s2.inject(bob, opts)])
        const won = (rs: InjectResult[]) => rs.every((x) => x.status === 'created')
        const lost = (rs: InjectResult[]) =>
          rs.every(
            (x) => x.status === 'rejected' && x.error?.field === 'task' && NEUTRAL.test(x.error.message),
          )
        expect((won(a) && lost(b)) || (won(b) && lost(a)), `round ${round}: one owner`).toBe(true)
        const users = new Set((await s1.list({ task, limit: 100 })).items.map((t) => t.user))
        expect(users.size).toBe(1)
      }
    })

    it('the migration makes the user of each task’s first-injected file its owner', async () => {
      const url = await factory.emptyDatabase()
      const old = await open(url, false)
      const migrator = new Migrator({ db: old.db, provider: migrationProvider(factory.name as never) })
      expect((await migrator.migrateTo('0004_dashboard_rollups')).error).toBeUndefined()
      // inserted one at a time: injection order is seq order
      const rows: [string, string][] = [
        ['t1', 'bob'],
        ['t1', 'alice'],
        ['t2', 'alice'],
        ['t3', 'alice'],
        ['t3', 'bob'],
      ]
      for (const [i, [task, user]] of rows.entries()) {
        await old.db
          .insertInto('transfers')
          .values({
            id: i.toString(16).padStart(32, '0'),
            user,
            grp: '',
            role: '',
            task,
            job_id: `old-${i}`,
            job_retry: 0,
            type: 'output',
            source: 'A',
            source_lfn: `/store/temp/user/${user}.abc/old-${i}`,
            destination: 'B',
            destination_lfn: `/store/user/${user}/old-${i}`,
            size: 100,
            adler32: '00000001',
            priority: 3,
            activity: 'ASO',
            publish: 0,
            state: 'NEW',
            attempt: 1,
            max_attempts: 3,
            submissions: 0,
            supersede_pending: 0,
            created_at: 1,
            updated_at: 1,
            source_cleanup: 'NONE',
            publication_state: 'NOT_REQUIRED',
          } as never)
          .execute()
      }
      const store = await open(url)
      const into = async (user: string, task: string) =>
        (await store.inject(filesOf(1, user, task, `new-${task}`), opts))[0]!
      expect(await into('alice', 't1')).toMatchObject({ status: 'rejected', error: { field: 'task' } })
      expect(await into('bob', 't1')).toMatchObject({ status: 'created' })
      expect(await into('alice', 't2')).toMatchObject({ status: 'created' })
      expect(await into('bob', 't2')).toMatchObject({ status: 'rejected', error: { field: 'task' } })
      expect(await into('bob', 't3')).toMatchObject({ status: 'rejected', error: { field: 'task' } })
      expect(await into('alice', 't3')).toMatchObject({ status: 'created' })
    })
  })
}
