/**
 * Publication through the API (issue 12, sections 3 and 4), over a real socket with the typed client: the
 * publication retry (a user's own files only, operators anyone's, a clear answer when nothing FAILED), the
 * counts of status and the task view, explain's sentence, SSE events, Problems, /metrics and the OpenAPI
 * document. Records reach their states through the store's own operations, with no catalog.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import type { ProblemsResponse } from '../../src/contract/dashboard.js'
import type { TransferEvent } from '../../src/contract/schemas.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { makeFileLab } from '../support/file-sites.js'
import { close, deliver, intoBlock, publishable } from '../support/publication.js'

const T0 = Date.now() - 3_600_000
const PERMANENT =
  "Rucio answered 401 CannotAuthenticate: Rucio refused the service's credentials: check catalog.auth"

describe('publication through the API', () => {
  let api: TestApi
  let alice: AsoClient
  let ops: AsoClient
  const mine = publishable(3, 'alice', 'Ta')
  const bobs = publishable(2, 'bob', 'Tb')
  const id = (i: number) => mine[i]!.id

  const failBlock = async (name: string, when: number) => {
    await api.store.recordPublishFailure(
      name,
      { failureClass: 'catalog-permanent', reason: PERMANENT, retryAt: null },
      when,
      'publisher',
    )
  }

  beforeAll(async () => {
    const lab = await makeFileLab({
      config: {
        users: { alice: {}, bob: {}, ops: { role: 'operator' } },
        catalog: {
          type: 'rucio',
          url: 'http://127.0.0.1:1',
          auth: { type: 'userpass', account: 'root', username: 'svc', password: 'secret' },
        },
      },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true, pollMs: 50 })
    alice = new AsoClient(api.url, { user: 'alice' })
    ops = new AsoClient(api.url, { user: 'ops' })
    const store = api.store
    await store.inject([...mine, ...bobs], { now: T0, actor: 'test', maxAttempts: 1 })
    await deliver(store, [...mine, ...bobs], T0 + 1000)
    // alice: a block refused as a whole (files 0, 1), and a file refused on its own in a published block (2)
    await intoBlock(store, 'alice', [id(0), id(1)], 'blk-a', T0 + 2000)
    await close(store, 'blk-a', T0 + 2000)
    await failBlock('blk-a', T0 + 3000)
    await intoBlock(store, 'alice', [id(2)], 'blk-a2', T0 + 4000)
    await close(store, 'blk-a2', T0 + 4000)
    await store.recordPublished(
      'blk-a2',
      { published: [], rejected: [{ id: id(2), reason: 'Rucio holds other adler32' }], ruleId: null },
      T0 + 5000,
      'publisher',
    )
    await intoBlock(
      store,
      'bob',
      bobs.map((b) => b.id),
      'blk-b',
      T0 + 6000,
    )
    await close(store, 'blk-b', T0 + 6000)
    await failBlock('blk-b', T0 + 7000)
  })
  afterAll(async () => {
    await alice?.close()
    await ops?.close()
    await api?.close()
  })

  it('status, the task view and explain carry the publication state', async () => {
    expect((await alice.status()).publication).toEqual({
      NOT_REQUIRED: 0,
      PENDING: 0,
      PUBLISHING: 0,
      PUBLISHED: 0,
      FAILED: 3,
    })
    expect((await ops.status()).publication.FAILED).toBe(5)
    expect((await alice.task('Ta')).publication.FAILED).toBe(3)
    // the task list too, for the user's own tasks only
    const list = await fetch(`${api.url}/api/v1/tasks`, { headers: { 'x-aso-user': 'alice' } })
    expect(((await list.json()) as { items: unknown[] }).items).toEqual([
      expect.objectContaining({ task: 'Ta', user: 'alice', publication: { FAILED: 3 } }),
    ])
    const e = await alice.explain(id(0))
    expect(e.record.publicationState).toBe('FAILED')
    expect(e.publication).toEqual({
      state: 'FAILED',
      block: 'blk-a',
      why: `FAILED (catalog-permanent): ${PERMANENT}; after fixing, \`aso publish --retry ${id(0)}\``,
    })
    expect(e.timeline.at(-1)).toMatchObject({ from: 'DONE', to: 'DONE', publication: 'FAILED' })
  })

  it('Problems lists a user’s own FAILED publications and failing blocks', async () => {
    const res = await fetch(`${api.url}/api/v1/dashboard/problems`, { headers: { 'x-aso-user': 'alice' } })
    const p = (await res.json()) as ProblemsResponse
    expect(p.publication.failed.map((f) => f.id).sort()).toEqual([id(0), id(1), id(2)].sort())
    expect(p.publication.blocks.map((b) => [b.name, b.state, b.files])).toEqual([['blk-a', 'FAILED', 2]])
  })

  it('refuses a user the publication retry of another user’s files; nothing changes', async () => {
    await expect(alice.publishRetry({ ids: bobs.map((b) => b.id) })).rejects.toThrow(
      /2 of these transfers belong to other users .*may retry the publication of only your own; nothing was changed/,
    )
    await expect(alice.publishRetry({ task: 'Tb' })).rejects.toThrow(/no transfers in task "Tb"/)
    expect((await api.store.getMany(bobs.map((b) => b.id))).map((r) => r.publicationState)).toEqual([
      'FAILED',
      'FAILED',
    ])
  })

  it('retries a user’s own FAILED publications: the refused block again, the lone file into a new block', async () => {
    const r = await alice.publishRetry({ task: 'Ta' })
    expect(r).toEqual({ republished: 2, requeued: 1, blocks: 1, notFailed: 0, notFound: [] })
    const recs = await api.store.getMany([id(0), id(1), id(2)])
    const by = new Map(recs.map((x) => [x.id, x]))
    expect([id(0), id(1), id(2)].map((i) => [by.get(i)!.publicationState, by.get(i)!.blockName])).toEqual([
      ['PUBLISHING', 'blk-a'],
      ['PUBLISHING', 'blk-a'],
      ['PENDING', null],
    ])
    const again = await alice.publishRetry({ ids: [id(0), 'f'.repeat(32)] })
    expect(again).toEqual({
      republished: 0,
      requeued: 0,
      blocks: 0,
      notFailed: 1,
      notFound: ['f'.repeat(32)],
    })
    const audit = await fetch(`${api.url}/api/v1/audit`, { headers: { 'x-aso-user': 'ops' } })
    expect(JSON.stringify(await audit.json())).toMatch(/"action":"publication-retry","target":"task Ta"/)
  })

  it('lets an operator retry anyone’s', async () => {
    const r = await ops.publishRetry({ ids: bobs.map((b) => b.id) })
    expect(r).toMatchObject({ republished: 2, blocks: 1 })
  })

  it('streams events with the publication state each one set', async () => {
    const seen: TransferEvent[] = []
    for await (const e of alice.events({ task: 'Ta' })) {
      seen.push(e)
      if (e.reason.startsWith('publication: publication retry')) break
    }
    expect(seen.find((e) => e.to === 'DONE' && e.from === 'SUBMITTED')?.publication).toBe('PENDING')
    expect(
      seen
        .filter((e) => e.publication === 'FAILED')
        .map((e) => e.transferId)
        .sort(),
    ).toEqual([id(0), id(1), id(2)].sort())
    expect(seen.at(-1)).toMatchObject({ from: 'DONE', to: 'DONE' })
    expect(['PUBLISHING', 'PENDING']).toContain(seen.at(-1)!.publication)
  })

  it('counts files per publication state and blocks per state in /metrics', async () => {
    const text = await (await fetch(`${api.url}/metrics`)).text()
    expect(text).toMatch(/^aso_publication_files\{state="PUBLISHING"\} 4$/m)
    expect(text).toMatch(/^aso_publication_files\{state="PENDING"\} 1$/m)
    expect(text).toMatch(/^aso_publication_files\{state="FAILED"\} 0$/m)
    expect(text).toMatch(/^aso_publication_blocks\{state="PUBLISHED"\} 1$/m)
    expect(text).toMatch(/^aso_publication_blocks\{state="PUBLISHING"\} 2$/m)
  })

  it('documents the retry route and the events’ publication field in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${api.url}/api/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>
      components: { schemas: Record<string, { properties: Record<string, unknown> }> }
    }
    expect(doc.paths['/api/v1/publication/retry']?.post).toBeDefined()
    expect(doc.components.schemas.TransferEvent!.properties.publication).toBeDefined()
    expect(doc.components.schemas.TaskSummary!.properties.publication).toBeDefined()
  })
})
