/**
 * The dashboard's API on both databases: its numbers agree with the records (the rollups are kept in step by
 * every transition, on SQLite and PostgreSQL), plain users get only their own numbers, operators' link and
 * weight changes are refused to users and recorded in the audit list, and old time buckets are pruned.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { Migrator } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApiServer } from '../../src/api/server.js'
import { migrationProvider } from '../../src/store/migrations/index.js'
import { openSqlite } from '../../src/store/sqlite/open.js'
import type { KyselyStore } from '../../src/store/store.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { closeStoreFactories, storeFactories } from '../support/stores.js'

afterAll(closeStoreFactories)

for (const factory of storeFactories()) {
  describe(`dashboard API (${factory.name})`, () => {
    let lab: FileLab
    let agent: TestAgent
    let app: FastifyInstance
    let files = 0

    const get = async (user: string, url: string) => {
      const r = await app.inject({ method: 'GET', url, headers: { 'x-aso-user': user } })
      return { status: r.statusCode, body: r.json() }
    }
    const post = async (user: string, url: string, payload: object) => {
      const r = await app.inject({ method: 'POST', url, headers: { 'x-aso-user': user }, payload })
      return { status: r.statusCode, body: r.json() }
    }
    const requests = async (user: string, task: string, n: number, destination: string, missing = 0) => {
      const out: Record<string, unknown>[] = []
      for (let i = 0; i < n; i++) {
        const name = `${task}-${++files}.root`
        const w =
          i < missing
            ? { size: 100, adler32: '00000001' }
            : await lab.writeOutput('SITE_A', `/store/temp/user/${user}.abc/${name}`, 1000 + files)
        out.push(lab.request({ user, source: 'SITE_A', destination, name, task, ...w }))
      }
      return out
    }

    beforeAll(async () => {
      lab = await makeFileLab({
        sites: ['SITE_A', 'SITE_B', 'SITE_C'],
        config: { users: { alice: {}, bob: {}, ops: { role: 'operator' } } },
      })
      agent = await startTestAgent(lab.configPath, { store: await factory.open() })
      app = await buildApiServer({
        config: agent.config,
        store: agent.store,
        sites: agent.sites,
        insecureDev: true,
      })
      await agent.store.setLinkSetting('SITE_A->SITE_C', { paused: true }, 'test', Date.now())
      await agent.inject([
        ...(await requests('alice', 'alice-1', 5, 'SITE_B', 1)),
        ...(await requests('alice', 'alice-held', 3, 'SITE_C')),
        ...(await requests('bob', 'bob-1', 4, 'SITE_B', 2)),
      ])
      // every file terminal but those waiting on the paused link
      await agent.waitFor(
        async () =>
          (await agent.store.counts()).every(
            (c) => c.n === 0 || c.state === 'DONE' || c.state === 'FAILED' || c.destination === 'SITE_C',
          ),
        30_000,
        'the files to SITE_B to end',
      )
    }, 60_000)

    afterAll(async () => {
      await app?.close()
      await agent?.stop()
    })

    it('counts agree with the records: overview, time series, links and tasks', async () => {
      const o = await get('ops', '/api/v1/dashboard/overview')
      expect(o.status).toBe(200)
      expect(o.body).toMatchObject({
        scope: { user: null },
        total: 12,
        states: { NEW: 3, DONE: 6, FAILED: 3 },
        lastHour: { done: 6, failed: 3, killed: 0, successRate: 6 / 9 },
        activeEngineJobs: 0,
        oldestWaiting: { user: 'alice', source: 'SITE_A', destination: 'SITE_C' },
      })
      const held = await agent.store.list({ task: 'alice-held', limit: 10 })
      expect(held.items.map((r) => r.id)).toContain(o.body.oldestWaiting.id)

      for (const range of ['hour', 'week']) {
        const t = await get('ops', `/api/v1/dashboard/timeseries?range=${range}`)
        expect(t.body.points).toHaveLength(range === 'hour' ? 60 : 168)
        const sum = (k: string) =>
          t.body.points.reduce((n: number, p: Record<string, number>) => n + p[k]!, 0)
        expect([sum('done'), sum('failed')]).toEqual([6, 3])
      }

      const l = await get('ops', '/api/v1/dashboard/links')
      const ab = l.body.links.find((x: { link: string }) => x.link === 'SITE_A->SITE_B')
      expect(ab).toMatchObject({
        active: 0,
        queued: 0,
        lastHour: { done: 6, failed: 3 },
        topFailureClass: { class: 'permanent-source', files: 3 },
      })
      expect(ab.topFailureClass.hint).toMatch(/rerun the job/)
      expect(l.body.links.find((x: { link: string }) => x.link === 'SITE_A->SITE_C')).toMatchObject({
        paused: true,
        queued: 3,
      })

      const tasks = await get('ops', '/api/v1/tasks')
      expect(tasks.body.items.map((t: { task: string }) => t.task)).toEqual([
        'bob-1',
        'alice-held',
        'alice-1',
      ])
      for (const t of tasks.body.items) {
        const counts = await agent.store.taskCounts(t.task)
        for (const c of counts) expect(t.states[c.state]).toBeGreaterThanOrEqual(c.n)
        expect(t.total).toBe(counts.reduce((n, c) => n + c.n, 0))
      }
      expect(
        (await get('ops', '/api/v1/tasks?q=HELD')).body.items.map((t: { task: string }) => t.task),
      ).toEqual(['alice-held'])
      expect((await get('ops', '/api/v1/tasks?status=active')).body.items).toHaveLength(1)
      expect((await get('ops', '/api/v1/tasks?status=failed')).body.items).toHaveLength(2)
      const page1 = await get('ops', '/api/v1/tasks?limit=2')
      const page2 = await get('ops', `/api/v1/tasks?limit=2&cursor=${page1.body.next}`)
      expect(page2.body.items.map((t: { task: string }) => t.task)).toEqual(['alice-1'])
    })

    it('plain users get their own numbers only', async () => {
      const o = await get('bob', '/api/v1/dashboard/overview')
      expect(o.body).toMatchObject({ scope: { user: 'bob' }, total: 4, states: { DONE: 2, FAILED: 2 } })
      expect(o.body.oldestWaiting).toBeNull()
      const week = await get('bob', '/api/v1/dashboard/timeseries?range=week')
      const sum = (k: string) =>
        week.body.points.reduce((n: number, p: Record<string, number>) => n + p[k]!, 0)
      expect([sum('done'), sum('failed')]).toEqual([2, 2])
      const tasks = await get('bob', '/api/v1/tasks')
      expect(tasks.body.items.map((t: { user: string }) => t.user)).toEqual(['bob'])
      const l = await get('bob', '/api/v1/dashboard/links')
      expect(l.body.links.find((x: { link: string }) => x.link === 'SITE_A->SITE_B').lastHour).toMatchObject({
        done: 2,
        failed: 2,
      })
      for (const url of [
        '/api/v1/dashboard/overview?user=alice',
        '/api/v1/dashboard/timeseries?user=alice',
        '/api/v1/tasks?user=alice',
        '/api/v1/dashboard/problems?user=alice',
      ]) {
        const r = await get('bob', url)
        expect(r.status, url).toBe(403)
        expect(r.body.error.message).toMatch(/you may see only your own transfers, not those of "alice"/)
      }
    })

    it('problems: the queue of the paused link, with its reason', async () => {
      const p = await get('ops', '/api/v1/dashboard/problems?stuckAfter=0s')
      expect(p.status).toBe(200)
      expect(p.body.queues).toEqual([
        expect.objectContaining({
          link: 'SITE_A->SITE_C',
          user: 'alice',
          waiting: 3,
          why: 'the link is paused by an operator',
        }),
      ])
      expect(p.body.proxies).toEqual({ checked: false, expiring: [] })
      expect((await get('bob', '/api/v1/dashboard/problems?stuckAfter=0s')).body.queues).toEqual([])
      expect((await get('ops', '/api/v1/dashboard/problems?stuckAfter=1h')).body.queues).toEqual([])
    })

    it('operators change links and weights, recorded with the actor; users are refused', async () => {
      const refused = await post('alice', '/api/v1/links/SITE_A-%3ESITE_B', { maxActive: 5 })
      expect(refused.status).toBe(403)
      expect(refused.body.error.message).toMatch(/changing a link needs the operator or admin role/)
      expect((await post('alice', '/api/v1/users/bob/weight', { weight: 3 })).status).toBe(403)
      expect((await get('alice', '/api/v1/audit')).status).toBe(403)

      const set = await post('ops', '/api/v1/links/SITE_A-%3ESITE_B', { maxActive: 5 })
      expect(set).toEqual({ status: 200, body: { link: 'SITE_A->SITE_B', maxActive: 5, paused: false } })
      expect((await post('ops', '/api/v1/links/SITE_A-%3ESITE_X', { paused: true })).status).toBe(404)
      const empty = await post('ops', '/api/v1/links/SITE_A-%3ESITE_B', {})
      expect(empty.status).toBe(400)
      expect(empty.body.error.message).toMatch(/say what to change/)
      expect(await post('ops', '/api/v1/users/bob/weight', { weight: 3 })).toEqual({
        status: 200,
        body: { user: 'bob', weight: 3 },
      })
      expect(
        (await get('ops', '/api/v1/users')).body.users.find((u: { user: string }) => u.user === 'bob').weight,
      ).toBe(3)

      const kill = await post('alice', '/api/v1/transfers/kill', { task: 'alice-held' })
      expect(kill.body).toMatchObject({ killed: 3 })
      const audit = (await get('ops', '/api/v1/audit')).body.items
      expect(audit.slice(0, 3)).toEqual([
        expect.objectContaining({ actor: 'api:alice', action: 'kill', target: 'task alice-held' }),
        expect.objectContaining({
          actor: 'api:ops',
          action: 'user-weight',
          target: 'bob',
          detail: { weight: 3 },
        }),
        expect.objectContaining({ actor: 'api:ops', action: 'link-setting', target: 'SITE_A->SITE_B' }),
      ])
      const o = await get('ops', '/api/v1/dashboard/overview')
      expect(o.body).toMatchObject({ states: { DONE: 6, FAILED: 3, KILLED: 3 }, lastHour: { killed: 3 } })
      expect(o.body.oldestWaiting).toBeNull()
    })

    it('prunes minute buckets after hours and hour buckets after weeks', async () => {
      const db = (agent.store as KyselyStore).db
      const rows = async (table: 'transfer_minutes' | 'transfer_hours' | 'user_hours') =>
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n
      expect(Number(await rows('transfer_minutes'))).toBeGreaterThan(0)
      expect(await agent.store.pruneFinishedBuckets(Date.now() + 60_000)).toBe(0)
      expect(await agent.store.pruneFinishedBuckets(Date.now() + 4 * 3_600_000)).toBeGreaterThan(0)
      expect(Number(await rows('transfer_minutes'))).toBe(0)
      expect(Number(await rows('transfer_hours'))).toBeGreaterThan(0)
      expect(Number(await rows('user_hours'))).toBeGreaterThan(0)
      expect(await agent.store.pruneFinishedBuckets(Date.now() + 36 * 86_400_000)).toBeGreaterThan(0)
      expect(Number(await rows('transfer_hours'))).toBe(0)
      expect(Number(await rows('user_hours'))).toBe(0)
    })
  })
}

describe('migration 0004 on a database with records', () => {
  it('counts existing tasks in, and the files that ended within the buckets’ retention', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-0004-'))
    const db = openSqlite(path.join(dir, 'aso.db'))
    const migrator = new Migrator({ db, provider: migrationProvider('sqlite') })
    expect((await migrator.migrateTo('0003_event_commit_order')).error).toBeUndefined()
    const now = Date.now()
    const row = (
      i: number,
      state: string,
      finishedAt: number | null,
      failureClass: string | null = null,
    ) => ({
      id: i.toString(16).padStart(32, '0'),
      user: i % 2 ? 'alice' : 'bob',
      grp: '',
      role: '',
      task: `t${i % 3}`,
      job_id: String(i),
      job_retry: 0,
      type: 'output',
      source: 'A',
      source_lfn: `/store/temp/user/x.y/${i}`,
      destination: 'B',
      destination_lfn: `/store/user/x/${i}`,
      size: 100,
      adler32: '00000001',
      priority: 3,
      activity: 'ASO',
      publish: 0,
      state,
      attempt: 1,
      max_attempts: 3,
      submissions: 1,
      supersede_pending: 0,
      created_at: now - 100 * 86_400_000,
      updated_at: finishedAt ?? now,
      finished_at: finishedAt,
      failure_class: failureClass,
      source_cleanup: 'NONE',
      publication_state: 'NOT_REQUIRED',
    })
    await db
      .insertInto('transfers')
      .values([
        row(1, 'DONE', now - 60_000),
        row(2, 'FAILED', now - 60_000, 'quota'),
        row(3, 'DONE', now - 5 * 3_600_000),
        row(4, 'DONE', now - 40 * 86_400_000),
        row(5, 'NEW', null),
      ])
      .execute()
    expect((await migrator.migrateToLatest()).error).toBeUndefined()
    const tasks = await db.selectFrom('task_counts').selectAll().orderBy('task').orderBy('user').execute()
    expect(tasks.map((t) => [t.task, t.user, t.n_done, t.n_failed, t.n_new, t.bytes, t.done_bytes])).toEqual([
      ['t0', 'alice', 1, 0, 0, 100, 100],
      ['t1', 'alice', 1, 0, 0, 100, 100],
      ['t1', 'bob', 1, 0, 0, 100, 100],
      ['t2', 'alice', 0, 0, 1, 100, 0],
      ['t2', 'bob', 0, 1, 0, 100, 0],
    ])
    const sum = async (table: 'transfer_minutes' | 'transfer_hours' | 'user_hours') =>
      Number(
        (
          await db
            .selectFrom(table)
            .select((eb) => eb.fn.sum<number>('files').as('n'))
            .executeTakeFirst()
        )?.n ?? 0,
      )
    // the last 3 hours in minutes (1 and 2), the last 35 days in hours (1, 2 and 3); 4 ended too long ago
    expect(await sum('transfer_minutes')).toBe(2)
    expect(await sum('transfer_hours')).toBe(3)
    expect(await sum('user_hours')).toBe(3)
    await db.destroy()
    await rm(dir, { recursive: true, force: true })
  })
})
