/**
 * Authorization matrix (ARCHITECTURE.md invariant 8): a user sees, kills and retries only their own
 * transfers, injects only as themselves, from their own temporary area into their own namespace, with their
 * own groups; an operator acts on all. Every refusal says why. Insecure-dev identities through app.inject():
 * the same rules apply whatever the authentication.
 */
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Store } from '../../src/store/store.js'
import { buildTestApp } from '../support/api.js'
import { makeFileLab } from '../support/file-sites.js'

interface Reply {
  status: number
  body: Record<string, unknown> & { error?: { code: string; message: string } }
}

describe('API authorization', () => {
  let app: FastifyInstance
  let store: Store
  let close: () => Promise<void>
  const ids: Record<string, string[]> = { alice: [], bob: [] }

  const call = async (
    user: string | null,
    method: 'GET' | 'POST',
    url: string,
    payload?: unknown,
  ): Promise<Reply> => {
    const r = await app.inject({
      method,
      url,
      headers: user ? { 'x-aso-user': user } : {},
      ...(payload !== undefined ? { payload: payload as object } : {}),
    })
    return { status: r.statusCode, body: r.json() }
  }
  const request = (user: string, name: string, over: Record<string, unknown> = {}) => ({
    user,
    task: `task-${user}`,
    jobId: name,
    source: 'SITE_A',
    sourceLfn: `/store/temp/user/${user}.abc/${name}`,
    destination: 'SITE_B',
    destinationLfn: `/store/user/${user}/${name}`,
    size: 10,
    checksums: { adler32: '00000001' },
    ...over,
  })

  beforeAll(async () => {
    const lab = await makeFileLab({
      config: {
        users: {
          alice: { groups: ['cms'] },
          bob: { groups: ['atlas'] },
          ops: { role: 'operator' },
        },
      },
    })
    ;({ app, store, close } = await buildTestApp(lab.configPath))
    for (const user of ['alice', 'bob']) {
      const r = await call(
        user,
        'POST',
        '/api/v1/transfers',
        [1, 2, 3].map((i) => request(user, `f${i}`)),
      )
      expect(r.status).toBe(200)
      ids[user] = (r.body.results as { id: string }[]).map((x) => x.id)
    }
  })
  afterAll(async () => close?.())

  describe('user alice on bob’s transfers', () => {
    it('cannot read one of them', async () => {
      const r = await call('alice', 'GET', `/api/v1/transfers/${ids.bob![0]}`)
      expect(r.status).toBe(403)
      expect(r.body.error?.message).toMatch(
        /belongs to another user: you are "alice" and may see only your own/,
      )
    })

    it('cannot list them, and her own listing holds only hers', async () => {
      const r = await call('alice', 'GET', '/api/v1/transfers?user=bob')
      expect(r.status).toBe(403)
      expect(r.body.error?.message).toMatch(/you may see only your own transfers, not those of "bob"/)
      const own = await call('alice', 'GET', '/api/v1/transfers')
      expect((own.body.items as { user: string }[]).map((t) => t.user)).toEqual(['alice', 'alice', 'alice'])
    })

    it('cannot see his task (404, as if it did not exist), wait on it, or follow his events', async () => {
      const t = await call('alice', 'GET', '/api/v1/tasks/task-bob')
      expect(t.status).toBe(404)
      expect(t.body.error?.message).toMatch(/no transfers in task "task-bob": check the task name/)
      const w = await call('alice', 'GET', '/api/v1/tasks/task-bob/wait?timeout=1s')
      expect(w.status).toBe(404)
      const e = await call('alice', 'GET', '/api/v1/events?user=bob')
      expect(e.status).toBe(403)
      expect(e.body.error?.message).toMatch(/may follow the events of only your own transfers/)
    })

    it('cannot kill or retry them, by ids or by task; nothing changes', async () => {
      for (const action of ['kill', 'retry']) {
        const byIds = await call('alice', 'POST', `/api/v1/transfers/${action}`, { ids: ids.bob })
        expect(byIds.status).toBe(403)
        expect(byIds.body.error?.message).toMatch(
          new RegExp(
            `3 of these transfers belong to other users .*may ${action} only your own; nothing was changed`,
          ),
        )
        const mixed = await call('alice', 'POST', `/api/v1/transfers/${action}`, {
          ids: [ids.alice![0], ids.bob![0]],
        })
        expect(mixed.status).toBe(403)
        const byTask = await call('alice', 'POST', `/api/v1/transfers/${action}`, { task: 'task-bob' })
        expect(byTask.status).toBe(404)
        expect(byTask.body.error?.message).toMatch(/no transfers in task "task-bob"/)
      }
      expect((await store.getMany([...ids.alice!, ...ids.bob!])).map((r) => r.state)).toEqual(
        Array(6).fill('NEW'),
      )
    })

    it('cannot inject as bob, into his namespace, from his temporary area or with his group', async () => {
      const cases: [Record<string, unknown>, string, RegExp][] = [
        [
          request('bob', 'x1'),
          'user',
          /authenticated as "alice" and may only inject transfers as yourself, not as "bob"/,
        ],
        [
          request('alice', 'x2', { destinationLfn: '/store/user/bob/x2' }),
          'destinationLfn',
          /outside the namespace alice may write at SITE_B/,
        ],
        [
          request('alice', 'x3', { sourceLfn: '/store/temp/user/bob.abc/x3' }),
          'sourceLfn',
          /outside alice's temporary area at SITE_A .*only read the user's own job outputs/,
        ],
        [
          request('alice', 'x4', { group: 'atlas' }),
          'group',
          /"alice" is not a member of group "atlas" \(member of: cms\)/,
        ],
        [
          request('alice', 'x5', { destinationLfn: '/store/group/atlas/x5' }),
          'destinationLfn',
          /outside the namespace alice may write/,
        ],
      ]
      const r = await call(
        'alice',
        'POST',
        '/api/v1/transfers',
        cases.map(([req]) => req),
      )
      expect(r.status).toBe(400)
      expect(r.body.error?.message).toMatch(/none of the 5 requests was accepted/)
      const results = r.body.results as { status: string; error: { field: string; message: string } }[]
      for (const [i, [, field, message]] of cases.entries()) {
        expect(results[i]!.status).toBe('rejected')
        expect(results[i]!.error.field).toBe(field)
        expect(results[i]!.error.message).toMatch(message)
      }
      // her own group's namespace is hers
      const ok = await call('alice', 'POST', '/api/v1/transfers', [
        request('alice', 'g1', { group: 'cms', destinationLfn: '/store/group/cms/g1' }),
      ])
      expect(ok.status).toBe(200)
      expect((ok.body.results as { status: string }[])[0]!.status).toBe('created')
      ids.alice!.push((ok.body.results as { id: string }[])[0]!.id)
    })

    it('sees only herself in /users and her own counts in /status', async () => {
      const u = await call('alice', 'GET', '/api/v1/users')
      expect((u.body.users as { user: string }[]).map((x) => x.user)).toEqual(['alice'])
      const s = await call('alice', 'GET', '/api/v1/status')
      expect(s.body.total).toBe(4)
      expect((await call('alice', 'GET', '/api/v1/status?user=bob')).status).toBe(403)
    })
  })

  describe('operator ops', () => {
    it('reads, lists and waits on anyone’s transfers', async () => {
      expect((await call('ops', 'GET', `/api/v1/transfers/${ids.bob![0]}`)).status).toBe(200)
      const all = await call('ops', 'GET', '/api/v1/transfers?limit=100')
      expect((all.body.items as unknown[]).length).toBe(7)
      const bobs = await call('ops', 'GET', '/api/v1/transfers?user=bob')
      expect((bobs.body.items as unknown[]).length).toBe(3)
      expect((await call('ops', 'GET', '/api/v1/tasks/task-bob')).body.total).toBe(3)
      expect(((await call('ops', 'GET', '/api/v1/users')).body.users as unknown[]).length).toBe(3)
    })

    it('kills and retries anyone’s transfers', async () => {
      const k = await call('ops', 'POST', '/api/v1/transfers/kill', {
        task: 'task-bob',
        reason: 'maintenance',
      })
      expect(k).toEqual({ status: 200, body: { killed: 3, killing: 0, notFound: [] } })
      const explained = await call('ops', 'GET', `/api/v1/transfers/${ids.bob![0]}`)
      expect(explained.body.why).toMatch(/killed at .*: killed by api:ops: maintenance/)
      const r = await call('ops', 'POST', '/api/v1/transfers/retry', { ids: [ids.bob![0], 'f'.repeat(32)] })
      expect(r).toEqual({ status: 200, body: { retried: 1, refused: 0, notFound: ['f'.repeat(32)] } })
    })

    it('may inject for a user, still inside that user’s areas and groups', async () => {
      const r = await call('ops', 'POST', '/api/v1/transfers', [
        request('bob', 'op1'),
        request('bob', 'op2', { group: 'cms' }),
      ])
      const results = r.body.results as { status: string; error?: { field: string; message: string } }[]
      expect(results[0]!.status).toBe('created')
      expect(results[1]).toMatchObject({ status: 'rejected', error: { field: 'group' } })
      expect(results[1]!.error!.message).toMatch(/"bob" is not a member of group "cms"/)
    })
  })

  it('users act on their own: alice kills and retries hers', async () => {
    const k = await call('alice', 'POST', '/api/v1/transfers/kill', { ids: [ids.alice![0]] })
    expect(k.body).toEqual({ killed: 1, killing: 0, notFound: [] })
    const r = await call('alice', 'POST', '/api/v1/transfers/retry', { task: 'task-alice' })
    expect(r.body).toMatchObject({ retried: 1 })
  })

  it('answers 401 without an identity, and 404 for a task with no transfers', async () => {
    const r = await call(null, 'GET', '/api/v1/transfers')
    expect(r.status).toBe(401)
    expect(r.body.error).toMatchObject({
      code: 'unauthenticated',
      message: expect.stringMatching(/X-ASO-User/),
    })
    const t = await call('alice', 'GET', '/api/v1/tasks/nothing-here')
    expect(t.status).toBe(404)
    expect(t.body.error?.message).toMatch(/no transfers in task "nothing-here"/)
  })
})
