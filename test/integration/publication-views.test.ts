/**
 * What users read of publication (issue 12, section 4): status and task counts, explain's publication
 * sentence, the Problems lists, history events and webhook payloads, on real stores (SQLite and PostgreSQL)
 * brought into every publication state by the store's own operations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { AsoConfig } from '../../src/config/schema.js'
import { explainTransfer } from '../../src/reports/explain.js'
import { explainPublication } from '../../src/reports/explain-publication.js'
import { problemsReport } from '../../src/reports/problems.js'
import { statusReport } from '../../src/reports/status.js'
import { taskSummary } from '../../src/reports/task.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import type { Store } from '../../src/store/store.js'
import { close, DATASET, deliver, intoBlock, publishable } from '../support/publication.js'
import { items } from '../support/requests.js'
import { closeStoreFactories, sqliteFactory, storeFactories } from '../support/stores.js'

const T0 = Date.UTC(2026, 0, 10, 12, 0, 0)
const MIN = 60_000

afterAll(closeStoreFactories)

for (const factory of storeFactories())
  describe(`publication as users see it (${factory.name})`, () => {
    let store: Store
    let config: AsoConfig
    let sites: SiteCatalog
    // alice's files of task T1 by role
    const f: Record<string, string> = {}
    let t2: string[] = []

    beforeAll(async () => {
      store = await factory.open()
      config = parseConfig({
        catalog: {
          type: 'rucio',
          url: 'http://127.0.0.1:1',
          auth: { type: 'userpass', account: 'root', username: 'svc', password: 'secret' },
        },
      })
      sites = new SiteCatalog(config)
      const t1 = publishable(9, 'alice', 'T1')
      const notAsked = items(1, () => ({
        user: 'alice',
        task: 'T1',
        jobId: 'plain',
        destinationLfn: '/store/user/alice/plain.root',
      }))
      const later = publishable(3, 'alice', 'T2')
      const bobs = publishable(2, 'bob', 'B1')
      t2 = later.map((i) => i.id)
      const names = [
        'open0',
        'open1',
        'pub',
        'rejected',
        'transient0',
        'transient1',
        'perm0',
        'perm1',
        'transferFailed',
      ]
      names.forEach((n, i) => {
        f[n] = t1[i]!.id
      })
      f.plain = notAsked[0]!.id
      await store.inject([...t1, ...notAsked, ...bobs], { now: T0, actor: 'test', maxAttempts: 1 })
      await deliver(store, [...t1, ...notAsked, ...bobs], T0 + MIN, new Set([f.transferFailed!]))
      // injected after the others were claimed: they stay NEW
      await store.inject(later, { now: T0 + MIN, actor: 'test', maxAttempts: 1 })

      // a block published with one file refused on its own
      await intoBlock(store, 'alice', [f.pub!, f.rejected!], 'blk-pub', T0 + 2 * MIN)
      await close(store, 'blk-pub', T0 + 3 * MIN)
      await store.recordPublished(
        'blk-pub',
        {
          published: [f.pub!],
          rejected: [
            { id: f.rejected!, reason: 'Rucio holds this replica with adler32 0000beef, ASO wrote 00001003' },
          ],
          ruleId: 'rule-1',
        },
        T0 + 4 * MIN,
        'publisher',
      )
      // a block Rucio answered 503 for: retried later
      await intoBlock(store, 'alice', [f.transient0!, f.transient1!], 'blk-503', T0 + 5 * MIN)
      await close(store, 'blk-503', T0 + 5 * MIN)
      await store.recordPublishFailure(
        'blk-503',
        {
          failureClass: 'catalog-transient',
          reason: 'Rucio answered 503 Service Unavailable',
          retryAt: T0 + 20 * MIN,
        },
        T0 + 6 * MIN,
        'publisher',
      )
      // a block Rucio refused for good
      await intoBlock(store, 'alice', [f.perm0!, f.perm1!], 'blk-401', T0 + 7 * MIN)
      await close(store, 'blk-401', T0 + 7 * MIN)
      await store.recordPublishFailure(
        'blk-401',
        {
          failureClass: 'catalog-permanent',
          reason:
            "Rucio answered 401 CannotAuthenticate: Rucio refused the service's credentials (account root): check catalog.auth",
          retryAt: null,
        },
        T0 + 8 * MIN,
        'publisher',
      )
      // an open block, waiting for T2's files
      await intoBlock(store, 'alice', [f.open0!, f.open1!], 'blk-open', T0 + 9 * MIN)
      // bob's block fails for good too
      await intoBlock(
        store,
        'bob',
        bobs.map((b) => b.id),
        'blk-bob',
        T0 + 9 * MIN,
      )
      await close(store, 'blk-bob', T0 + 9 * MIN)
      await store.recordPublishFailure(
        'blk-bob',
        { failureClass: 'catalog-permanent', reason: 'Rucio has no scope user.bob', retryAt: null },
        T0 + 9 * MIN,
        'publisher',
      )
    })
    afterAll(async () => store?.close())

    it('status and the task view count every publication state, NOT_REQUIRED included', async () => {
      const alice = await statusReport(store, { user: 'alice' })
      expect(alice.total).toBe(13)
      expect(alice.publication).toEqual({
        NOT_REQUIRED: 2,
        PENDING: 5,
        PUBLISHING: 2,
        PUBLISHED: 1,
        FAILED: 3,
      })
      const all = await statusReport(store)
      expect(all.publication).toEqual({ NOT_REQUIRED: 2, PENDING: 5, PUBLISHING: 2, PUBLISHED: 1, FAILED: 5 })
      const t1 = await taskSummary(store, 'T1')
      expect(t1.publication).toEqual({ NOT_REQUIRED: 2, PENDING: 2, PUBLISHING: 2, PUBLISHED: 1, FAILED: 3 })
      expect((await statusReport(store, { task: 'T2' })).publication.PENDING).toBe(3)
      expect((await taskSummary(store, 'B1', 'alice')).publication).toEqual({
        NOT_REQUIRED: 0,
        PENDING: 0,
        PUBLISHING: 0,
        PUBLISHED: 0,
        FAILED: 0,
      })
    })

    it('explain says what an open block waits for, and until when', async () => {
      const e = await explainTransfer(store, sites, config, (await store.get(f.open0!))!, T0 + 10 * MIN)
      expect(e.publication).toEqual({
        state: 'PENDING',
        block: 'blk-open',
        why: `PENDING: block blk-open (2 of 100 files) waits for 3 more files of task T2 (alice's ${DATASET}), or until 2026-01-10T17:09:00Z (catalog.blockCloseAfter, in 4h59m)`,
      })
      // past blockCloseAfter the next run closes it
      const late = await explainPublication(store, config, (await store.get(f.open0!))!, T0 + 6 * 60 * MIN)
      expect(late!.why).toMatch(
        /or until now \(catalog.blockCloseAfter\): the publisher closes it at its next run/,
      )
    })

    it('explain says a block is being registered, with its failed attempt and next try', async () => {
      const e = await explainPublication(store, config, (await store.get(f.transient0!))!, T0 + 10 * MIN)
      expect(e!.why).toBe(
        'PUBLISHING: block blk-503 is being registered in Rucio (attempt 1 of 5 failed (catalog-transient): Rucio answered 503 Service Unavailable; next try at 2026-01-10T12:20:00Z (in 10m))',
      )
    })

    it('explain gives a FAILED publication its class, reason and the command that retries it', async () => {
      const perm = await explainPublication(store, config, (await store.get(f.perm0!))!, T0 + 10 * MIN)
      expect(perm!.why).toBe(
        `FAILED (catalog-permanent): Rucio answered 401 CannotAuthenticate: Rucio refused the service's credentials (account root): check catalog.auth; after fixing, \`aso publish --retry ${f.perm0}\``,
      )
      const rejected = await explainPublication(store, config, (await store.get(f.rejected!))!, T0 + 10 * MIN)
      expect(rejected!.why).toMatch(
        /^FAILED \(catalog-permanent\): Rucio holds this replica with adler32 0000beef/,
      )
    })

    it('explain says where a file was published, and why others are not published', async () => {
      const pub = await explainPublication(store, config, (await store.get(f.pub!))!, T0 + 10 * MIN)
      expect(pub!.why).toBe('PUBLISHED: in block blk-pub at 2026-01-10T12:04:00Z (scope user.alice, RSE B)')
      const failed = await explainPublication(store, config, (await store.get(f.transferFailed!))!, T0)
      expect(failed!.why).toBe(
        `NOT_REQUIRED: the transfer ended FAILED; publication resumes if it is retried (aso retry ${f.transferFailed})`,
      )
      const waiting = await explainPublication(store, config, (await store.get(t2[0]!))!, T0)
      expect(waiting!.why).toBe('PENDING: published once the transfer is DONE (it is NEW now)')
      expect(await explainPublication(store, config, (await store.get(f.plain!))!, T0)).toBeNull()
      const noCatalog = parseConfig({})
      const open = await explainPublication(store, noCatalog, (await store.get(f.open0!))!, T0)
      expect(open!.why).toBe(
        'PENDING: this ASO has no catalog configured (no catalog: section in aso.yaml): the file is published once one is',
      )
    })

    it('history rows carry the publication state each event set', async () => {
      const h = await store.history(f.pub!)
      expect(h.map((e) => [e.to, e.publication])).toEqual([
        ['NEW', 'PENDING'],
        ['SUBMITTING', 'PENDING'],
        ['SUBMITTED', 'PENDING'],
        ['DONE', 'PENDING'],
        ['DONE', 'PENDING'],
        ['DONE', 'PUBLISHING'],
        ['DONE', 'PUBLISHED'],
      ])
      const failed = await store.history(f.transferFailed!)
      expect(failed.at(-1)).toMatchObject({ to: 'FAILED', publication: 'NOT_REQUIRED' })
      const events = await store.eventsSince(0, { task: 'T1' }, 1000)
      expect(
        events
          .filter((e) => e.publication === 'FAILED')
          .map((e) => e.transferId)
          .sort(),
      ).toEqual([f.rejected!, f.perm0!, f.perm1!].sort())
    })

    it('Problems lists FAILED publications with class and reason, and blocks that keep failing', async () => {
      const p = await problemsReport(store, sites, config, {
        user: 'alice',
        now: T0 + 10 * MIN,
        stuckAfterMs: 30 * MIN,
        proxyWithinMs: 0,
      })
      expect(p.publication.failed.map((x) => [x.id, x.failureClass]).sort()).toEqual(
        [
          [f.rejected!, 'catalog-permanent'],
          [f.perm0!, 'catalog-permanent'],
          [f.perm1!, 'catalog-permanent'],
        ].sort(),
      )
      expect(p.publication.failed.find((x) => x.id === f.perm0)).toMatchObject({
        task: 'T1',
        dataset: DATASET,
        block: 'blk-401',
        failureReason: expect.stringMatching(/check catalog.auth/),
      })
      expect(p.publication.blocks.map((b) => [b.name, b.state, b.files, b.attempts])).toEqual([
        ['blk-401', 'FAILED', 2, 1],
        ['blk-503', 'PUBLISHING', 2, 1],
      ])
      const everyone = await problemsReport(store, sites, config, {
        user: undefined,
        now: T0 + 10 * MIN,
        stuckAfterMs: 30 * MIN,
        proxyWithinMs: 0,
      })
      expect(everyone.publication.blocks.map((b) => b.name)).toContain('blk-bob')
      expect(await store.blockCounts()).toEqual({ OPEN: 1, PUBLISHING: 1, PUBLISHED: 1, FAILED: 2 })
    })
  })

describe('webhooks', () => {
  it('carry the publication state the file has when its transfer ends', async () => {
    const store = await sqliteFactory.open()
    try {
      const cb = { callbackUrl: 'https://jobs.example.org/hook' }
      const asked = publishable(2, 'alice', 'W1').map((i) => ({ ...i, request: { ...i.request, ...cb } }))
      const plain = items(1, () => ({ task: 'W1', jobId: 'plain', ...cb }))
      await store.inject([...asked, ...plain], { now: T0, actor: 'test', maxAttempts: 1 })
      await deliver(store, [...asked, ...plain], T0 + MIN, new Set([asked[1]!.id]))
      const due = await store.dueWebhooks(T0 + 2 * MIN, 10, MIN)
      const payloads = new Map(due.map((d) => [d.transferId, JSON.parse(d.payload)]))
      expect(payloads.get(asked[0]!.id)).toMatchObject({ state: 'DONE', publicationState: 'PENDING' })
      expect(payloads.get(asked[1]!.id)).toMatchObject({ state: 'FAILED', publicationState: 'NOT_REQUIRED' })
      expect(payloads.get(plain[0]!.id)).toMatchObject({ state: 'DONE', publicationState: 'NOT_REQUIRED' })
    } finally {
      await store.close()
    }
  })
})
