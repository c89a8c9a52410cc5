/**
 * An adaptive link as operators see it (issue 18): the links list, the dashboard's links and a waiting file's
 * explanation show the tuner's limit, whether an operator pinned it, and its last decisions; an operator's
 * maxActive pins the link and maxActive null unpins it, through the API.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApiServer } from '../../src/api/server.js'
import { parseConfig } from '../../src/config/load.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { items } from '../support/requests.js'

describe('adaptive links in the API', () => {
  let dir: string
  let store: Store
  let app: FastifyInstance
  let waiting: string

  const get = async (url: string, user = 'ops') => {
    const r = await app.inject({ method: 'GET', url, headers: { 'x-aso-user': user } })
    return { status: r.statusCode, body: r.json() }
  }
  const post = async (url: string, payload: object) => {
    const r = await app.inject({ method: 'POST', url, headers: { 'x-aso-user': 'ops' }, payload })
    return { status: r.statusCode, body: r.json() }
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'aso-adaptive-api-'))
    const config = parseConfig({
      database: `sqlite:${path.join(dir, 'aso.db')}`,
      sites: {
        A: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'A') }] },
        B: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'B') }] },
        C: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'C') }] },
      },
      links: {
        'A->B': { adaptive: true, startActive: 4, minActive: 2, maxActive: 30 },
        'A->C': { maxActive: 9 },
      },
      users: { alice: {}, ops: { role: 'operator' } },
    })
    store = await openStore(config.database)
    const batch = items(1)
    await store.inject(batch, { now: 1000, actor: 'test', maxAttempts: 3 })
    waiting = batch[0]!.id
    await store.inject(
      items(1, () => ({ destination: 'C', sourceLfn: '/store/temp/user/alice.abc/c.root' })),
      {
        now: 1000,
        actor: 'test',
        maxAttempts: 3,
      },
    )
    await store.recordLinkTuning({
      link: 'A->B',
      limit: 5,
      state: '{}',
      now: Date.UTC(2026, 0, 1),
      decision: {
        at: Date.UTC(2026, 0, 1),
        link: 'A->B',
        from: 4,
        to: 5,
        reason: 'first measurement 10.0 MiB/s at 4: probing higher',
        measurements: { throughput: 10485760 },
      },
    })
    app = await buildApiServer({ config, store, sites: new SiteCatalog(config), insecureDev: true })
  })

  afterAll(async () => {
    await app?.close()
    await store?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const tuned = {
    pinned: false,
    current: 5,
    minActive: 2,
    maxActive: 30,
    decisions: [
      {
        at: Date.UTC(2026, 0, 1),
        from: 4,
        to: 5,
        reason: 'first measurement 10.0 MiB/s at 4: probing higher',
      },
    ],
  }

  it("lists the tuner's limit and decisions; fixed links have none", async () => {
    const { body } = await get('/api/v1/links', 'alice')
    const byLink = Object.fromEntries(body.links.map((l: { link: string }) => [l.link, l]))
    expect(byLink['A->B']).toMatchObject({ maxActive: 5, adaptive: tuned })
    expect(byLink['A->C']).toMatchObject({ maxActive: 9, adaptive: null })
    const dash = await get('/api/v1/dashboard/links')
    expect(dash.body.links.find((l: { link: string }) => l.link === 'A->B')).toMatchObject({
      adaptive: tuned,
    })
  })

  it("explains a waiting file by the tuner's limit and its last change", async () => {
    const { body } = await get(`/api/v1/transfers/${waiting}`, 'alice')
    expect(body.why).toMatch(
      /link A->B has room \(0\/5 \(adaptive 2\.\.30, the tuner's limit 5; last change 4 -> 5 at 2026-01-01T00:00:00.000Z: first measurement/,
    )
  })

  it("pins the link at an operator's maxActive and unpins it with maxActive null", async () => {
    const pinned = await post('/api/v1/links/A-%3EB', { maxActive: 3 })
    expect(pinned.status).toBe(200)
    expect(pinned.body).toMatchObject({ maxActive: 3, adaptive: { ...tuned, pinned: true } })
    expect((await get(`/api/v1/transfers/${waiting}`)).body.why).toMatch(/pinned by an operator/)
    const unpinned = await post('/api/v1/links/A-%3EB', { maxActive: null })
    expect(unpinned.body).toMatchObject({ maxActive: 5, adaptive: { pinned: false, current: 5 } })
  })
})
