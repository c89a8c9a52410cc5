/**
 * Fuzzing POST /api/v1/transfers (fast-check, through app.inject()): more than 10,000 generated bodies in which
 * no item is valid get a 4xx with a message, never a 5xx, and leave the store unchanged; mixed bodies store
 * exactly their valid items and answer each item in order.
 */
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { transferId } from '../../src/domain/ids.js'
import type { Store } from '../../src/store/store.js'
import { buildTestApp } from '../support/api.js'
import { makeFileLab } from '../support/file-sites.js'

const FUZZ_RUNS = 10_000

function valid(name: string): Record<string, unknown> {
  return {
    user: 'alice',
    task: 'fuzz',
    jobId: name,
    source: 'SITE_A',
    sourceLfn: `/store/temp/user/alice.abc/${name}`,
    destination: 'SITE_B',
    destinationLfn: `/store/user/alice/${name}`,
    size: 10,
    checksums: { adler32: '0000abcd' },
  }
}

function without(r: Record<string, unknown>, field: string) {
  const { [field]: _gone, ...rest } = r
  return rest
}

/** Ways to make a valid request invalid: each one alone is enough. */
const BREAKERS: ((r: Record<string, unknown>) => Record<string, unknown>)[] = [
  ...[
    'user',
    'task',
    'jobId',
    'source',
    'sourceLfn',
    'destination',
    'destinationLfn',
    'size',
    'checksums',
  ].map((f) => (r: Record<string, unknown>) => without(r, f)),
  (r) => ({ ...r, size: -1 }),
  (r) => ({ ...r, size: 'big' }),
  (r) => ({ ...r, size: 1.5 }),
  (r) => ({ ...r, checksums: { adler32: 'xyz' } }),
  (r) => ({ ...r, checksums: '0000abcd' }),
  (r) => ({ ...r, checksums: {} }),
  (r) => ({ ...r, sourceLfn: `${r.sourceLfn}/../x` }),
  (r) => ({ ...r, destinationLfn: 'store/user/alice/x' }),
  (r) => ({ ...r, destinationLfn: '/store/user/alice/a b' }),
  (r) => ({ ...r, destinationLfn: `/store/user/alice/${'x'.repeat(1100)}` }),
  (r) => ({ ...r, source: 'NOWHERE' }),
  (r) => ({ ...r, destination: 'T9 bad' }),
  (r) => ({ ...r, user: 'bob' }),
  (r) => ({ ...r, user: 5 }),
  (r) => ({ ...r, group: 'atlas' }),
  (r) => ({ ...r, priority: 9 }),
  (r) => ({ ...r, type: 'data' }),
  (r) => ({ ...r, jobRetry: -1 }),
  (r) => ({ ...r, unexpected: true }),
  (r) => ({ ...r, callbackUrl: 'https://hooks.example.org/x' }),
  (r) => ({ ...r, callbackUrl: 'ftp://hooks.example.org/x' }),
  (r) => ({ ...r, sourceLfn: '/store/temp/user/bob.abc/x' }),
  (r) => ({ ...r, destinationLfn: '/store/user/bob/x' }),
  (r) => ({ ...r, publish: 'yes' }),
  (r) => ({ ...r, dataset: 'not-a-dataset' }),
]

/** One invalid item: a valid request with one to three breakers applied, or an arbitrary JSON value. */
const invalidItem = fc.oneof(
  fc
    .tuple(
      fc.stringMatching(/^[a-z0-9]{1,12}$/),
      fc.array(fc.integer({ min: 0, max: BREAKERS.length - 1 }), { minLength: 1, maxLength: 3 }),
    )
    .map(([name, breaks]) => breaks.reduce((r, b) => BREAKERS[b]!(r), valid(name))),
  fc.jsonValue({ maxDepth: 3 }),
)

/** A body none of whose items is valid, as the bytes sent. */
const invalidBody: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: fc.array(invalidItem, { maxLength: 12 }).map((a) => JSON.stringify(a)) },
  {
    weight: 2,
    arbitrary: fc.array(invalidItem, { maxLength: 6 }).map((a) => JSON.stringify({ transfers: a })),
  },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v) ?? 'null') },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"__proto__": {"polluted": true}}',
      '[{"constructor": {"prototype": {"x": 1}}}]',
      `${'['.repeat(2000)}${']'.repeat(2000)}`,
      '',
      '\u0000',
      '{"transfers": {"user": "alice"}}',
    ),
  },
)

interface Answer {
  status: number
  body: {
    error?: { code: string; message: string }
    results?: { status: string; id: string | null; error?: { message: string } }[]
  }
}

describe('POST /api/v1/transfers under fuzzing', () => {
  let app: FastifyInstance
  let store: Store
  let close: () => Promise<void>

  const post = async (payload: string, contentType = 'application/json'): Promise<Answer> => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/v1/transfers',
      headers: { 'x-aso-user': 'alice', 'content-type': contentType },
      payload,
    })
    return { status: r.statusCode, body: r.json() }
  }

  beforeAll(async () => {
    const lab = await makeFileLab({
      // tens of thousands of requests of one user: no rate limit here (api-connection-limits tests it)
      config: { users: { alice: { groups: ['cms'] }, bob: {} }, api: { limits: { requests: 0 } } },
    })
    ;({ app, store, close } = await buildTestApp(lab.configPath))
  })
  afterAll(async () => close?.())

  it(`answers ${FUZZ_RUNS} bodies without a valid item with a 4xx and a message, and stores nothing`, async () => {
    const before = { counts: await store.counts(), event: await store.latestEventId() }
    const statuses = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(invalidBody, fc.constantFrom('application/json', 'text/plain'), async (body, type) => {
        const a = await post(body, type)
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1)
        expect(a.status).toBe(type === 'application/json' ? 400 : 415)
        expect(a.body.error?.message).toEqual(expect.stringMatching(/\w/))
        for (const r of a.body.results ?? []) {
          expect(r.status).toBe('rejected')
          expect(r.error?.message).toEqual(expect.stringMatching(/\w/))
        }
      }),
      { numRuns: FUZZ_RUNS },
    )
    expect(await store.counts()).toEqual(before.counts)
    expect(await store.latestEventId()).toBe(before.event)
    // bodies this small are all 400s as JSON, 415 as anything else; 413 (over 10,000 items or 32 MiB) is below
    expect([...statuses.keys()].sort()).toEqual([400, 415])
  }, 120_000)

  it('refuses more than 10,000 requests with 413, and a body too large to read with 413', async () => {
    const many = await post(JSON.stringify(Array(10_001).fill(null)))
    expect(many.status).toBe(413)
    expect(many.body.error?.message).toMatch(/10001 requests in one call: send at most 10000 per call/)
    const huge = await post(JSON.stringify([{ pad: 'x'.repeat(33 * 1024 * 1024) }]))
    expect(huge.status).toBe(413)
    expect(huge.body.error?.message).toMatch(/too large/)
  })

  it('stores exactly the valid items of mixed bodies, answering each item in order', async () => {
    let n = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constant('valid' as const), invalidItem), { minLength: 1, maxLength: 15 }),
        async (shape) => {
          const items = shape.map((s) => (s === 'valid' ? valid(`mixed${++n}`) : s))
          const expectedValid = items.filter((_, i) => shape[i] === 'valid') as Record<string, unknown>[]
          const before = (await store.counts()).reduce((a, c) => a + c.n, 0)
          const a = await post(JSON.stringify({ transfers: items }))
          expect(a.status).toBe(expectedValid.length ? 200 : 400)
          expect(a.body.results).toHaveLength(items.length)
          for (const [i, r] of a.body.results!.entries()) {
            if (shape[i] === 'valid') {
              const item = items[i] as { destination: string; destinationLfn: string }
              expect(r).toEqual({ id: transferId(item.destination, item.destinationLfn), status: 'created' })
            } else expect(r.status).toBe('rejected')
          }
          const ids = expectedValid.map((v) =>
            transferId(v.destination as string, v.destinationLfn as string),
          )
          expect((await store.getMany(ids)).map((t) => t.id).sort()).toEqual([...ids].sort())
          expect((await store.counts()).reduce((s, c) => s + c.n, 0)).toBe(before + ids.length)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('refuses a body over the limit with 413 before reading it as JSON', async () => {
    // not JSON at all: a parser would say 400; the size alone decides
    const notJson = 'x'.repeat(33 * 1024 * 1024)
    const huge = await post(notJson)
    expect(huge.status).toBe(413)
    expect(huge.body.error?.message).toMatch(/too large/)
    // other routes take 1 MiB
    const kill = await app.inject({
      method: 'POST',
      url: '/api/v1/transfers/kill',
      headers: { 'x-aso-user': 'alice', 'content-type': 'application/json' },
      payload: `{"ids": [${'"x",'.repeat(300_000)}"x"]}`,
    })
    expect(kill.statusCode).toBe(413)
  })

  it('refuses an item of 100,000 unknown keys with one short 400, without looking at each key', async () => {
    const item: Record<string, unknown> = valid('many')
    for (let i = 0; i < 100_000; i++) item[`k${i}`] = i
    const raw = await app.inject({
      method: 'POST',
      url: '/api/v1/transfers',
      headers: { 'x-aso-user': 'alice', 'content-type': 'application/json' },
      payload: JSON.stringify([item]),
    })
    expect(raw.statusCode).toBe(400)
    expect(raw.body.length).toBeLessThan(1024)
    expect(raw.json().error.message).toMatch(/more than 64 keys/)
  })

  it('refuses nesting deeper than 16 with 400, wherever it is', async () => {
    const deep = (n: number): unknown => (n === 0 ? 1 : { a: deep(n - 1) })
    for (const body of [
      [{ ...valid('deep'), checksums: deep(40) }],
      { transfers: [{ ...valid('deep'), extra: [[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]] }] },
    ]) {
      const a = await post(JSON.stringify(body))
      expect(a.status).toBe(400)
      expect(a.body.error?.message).toMatch(/nests arrays and objects more than 16 deep/)
    }
    // strings that look like brackets are not nesting
    const fine = await post(JSON.stringify([{ ...valid('brackets'), activity: 'x' }, '[[[[[[[[[[[[[[[[[[[[']))
    expect(fine.status).toBe(200)
  })

  it('reports at most 20 errors per item, the last one counting the rest', async () => {
    const item: Record<string, unknown> = valid('capped')
    for (let i = 0; i < 50; i++) item[`unknown${i}`] = i
    const a = await post(JSON.stringify([item]))
    expect(a.status).toBe(400)
    const r = a.body.results![0]! as unknown as { errors: { field: string; message: string }[] }
    expect(r.errors).toHaveLength(20)
    expect(r.errors[19]!.message).toMatch(/and 31 more errors/)
  })

  it('keeps the answer under 1 MB when 10,000 items are rejected with many errors each', async () => {
    const items = Array.from({ length: 10_000 }, (_, i) => {
      const item: Record<string, unknown> = { ...valid(`big${i}`), user: 'bob', size: -1, priority: 9 }
      for (let k = 0; k < 40; k++) item[`unknownField${k}`] = k
      return item
    })
    const raw = await app.inject({
      method: 'POST',
      url: '/api/v1/transfers',
      headers: { 'x-aso-user': 'alice', 'content-type': 'application/json' },
      payload: JSON.stringify(items),
    })
    expect(raw.statusCode).toBe(400)
    expect(Buffer.byteLength(raw.body)).toBeLessThanOrEqual(1024 * 1024)
    const body = raw.json() as Answer['body']
    expect(body.results).toHaveLength(10_000)
    expect(body.results!.every((r) => r.status === 'rejected' && r.id !== null)).toBe(true)
    expect(body.results![0]!.error?.message).toMatch(/\w/)
    expect(body.error?.message).toMatch(/answered without their errors/)
  }, 60_000)

  it('is idempotent: the same body again changes nothing and says unchanged', async () => {
    const body = JSON.stringify([valid('again1'), valid('again2')])
    const first = await post(body)
    const event = await store.latestEventId()
    const second = await post(body)
    expect(first.status).toBe(200)
    expect(second.body.results!.map((r) => r.status)).toEqual(['unchanged', 'unchanged'])
    expect(await store.latestEventId()).toBe(event)
  })
})
