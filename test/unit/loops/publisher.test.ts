/**
 * The publisher alone, with a scripted catalog: DONE files that asked for publication join the open block of
 * their user, dataset and destination; a block closes when full, when nothing of its dataset is on its way,
 * or after blockCloseAfter; its files are marked PUBLISHING before the catalog is called; transient failures
 * are retried with backoff and counted, permanent ones end FAILED until `publish --retry`; a file the catalog
 * refuses alone fails alone. Files that end FAILED or KILLED are never published.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Publisher } from '../../../src/agent/publisher.js'
import { CatalogError } from '../../../src/catalog/catalog.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'
import { ScriptedCatalog } from '../../support/scripted-catalog.js'

const DS1 = '/Higgs/alice-v1/USER'
const DS2 = '/Zmumu/alice-v2/USER'

function catalogConfig(over: Record<string, unknown> = {}) {
  return {
    type: 'rucio',
    url: 'http://127.0.0.1:1',
    auth: { type: 'userpass', account: 'root', username: 'ddmlab', password: 'secret' },
    blockName: '{dataset}_{uuid}',
    maxFilesPerBlock: 50,
    blockCloseAfter: '1h',
    maxAttempts: 3,
    backoff: { initial: '10s', factor: 2, max: '1m' },
    rses: { B: 'T2_B' },
    ...over,
  }
}

describe('publisher', () => {
  let lab: LoopLab
  let catalog: ScriptedCatalog
  afterEach(async () => {
    await lab?.close()
  })

  async function setUp(over: Record<string, unknown> = {}) {
    lab = await makeLoopLab({ config: { catalog: catalogConfig(over), retry: { maxAttempts: 1 } } })
    catalog = new ScriptedCatalog()
    lab.ctx.catalog = catalog
    return new Publisher(lab.ctx)
  }

  /** publication states in the order of `ids` (getMany answers in its own order) */
  async function pubStates(ids: readonly string[]) {
    const byId = new Map((await lab.store.getMany(ids)).map((t) => [t.id, t]))
    return ids.map((id) => byId.get(id)!.publicationState)
  }

  const publishable =
    (dataset: string, extra: Record<string, unknown> = {}) =>
    () => ({
      publish: true,
      dataset,
      ...extra,
    })

  it('waits while files of the dataset are on their way, then publishes one block per dataset with the PFNs ASO wrote', async () => {
    const publisher = await setUp()
    const d1 = await lab.inject(4, publishable(DS1))
    const d2 = await lab.inject(2, publishable(DS2))
    const [job] = await lab.submitted()
    // three of DS1 and both of DS2 arrive; the fourth of DS1 is still on its way
    await lab.record(lab.outcomes(job!, 'done', '', [...d1.slice(0, 3), ...d2]))
    await publisher.run()
    expect(catalog.calls.map((c) => c.container)).toEqual([DS2])
    const [b2] = catalog.calls
    expect(b2).toMatchObject({ scope: 'user.alice', rse: 'T2_B', ruleAccount: 'alice' })
    expect(b2!.name).toMatch(/^\/Zmumu\/alice-v2\/USER_[0-9a-f-]{36}$/)
    const first = (await lab.store.get(d2[0]!))!
    expect(b2!.files[0]).toEqual({
      id: first.id,
      lfn: first.destinationLfn,
      bytes: first.size,
      adler32: first.checksums.adler32,
      pfn: `mock://B${first.destinationLfn}`,
    })
    expect(await pubStates(d2)).toEqual(['PUBLISHED', 'PUBLISHED'])
    const waiting = (await lab.store.get(d1[0]!))!
    expect(waiting.publicationState).toBe('PENDING')
    const open = await lab.store.blockView(waiting.blockName!)
    expect(open).toMatchObject({ state: 'OPEN', files: 3, waitingByTask: [{ task: 'task-alice', n: 1 }] })

    await lab.record(lab.outcomes(job!, 'done', '', [d1[3]!]))
    await publisher.run()
    expect(catalog.calls.map((c) => [c.container, c.files.length])).toEqual([
      [DS2, 2],
      [DS1, 4],
    ])
    expect(new Set((await lab.store.getMany(d1)).map((r) => r.blockName)).size).toBe(1)
    expect((await lab.store.blockView(waiting.blockName!))!.state).toBe('PUBLISHED')
    const reasons = (await lab.store.history(d1[0]!))
      .map((e) => e.reason)
      .filter((r) => r.startsWith('publication'))
    expect(reasons).toEqual([
      expect.stringMatching(/^publication: joined block /),
      expect.stringMatching(/closed \(no more files of its dataset on their way\)/),
      expect.stringMatching(/^publication: published in block /),
    ])
  })

  it('fills blocks up to maxFilesPerBlock, closing full ones at once, the rest after blockCloseAfter', async () => {
    const publisher = await setUp()
    const ids = await lab.inject(121, publishable(DS1))
    const [job] = await lab.submitted({ maxFilesPerJob: 1000 })
    // 120 arrive, one stays on its way
    await lab.record(lab.outcomes(job!, 'done', '', ids.slice(0, 120)))
    await publisher.run()
    expect(catalog.blocks().map((b) => b.files)).toEqual([50, 50])
    const rest = (await lab.store.get(ids[119]!))!
    expect(await lab.store.blockView(rest.blockName!)).toMatchObject({ state: 'OPEN', files: 20 })
    lab.clock.advance(3_600_000 - 1)
    await publisher.run()
    expect(catalog.calls).toHaveLength(2)
    lab.clock.advance(1)
    await publisher.run()
    expect(catalog.blocks().map((b) => b.files)).toEqual([50, 50, 20])
    expect((await lab.store.blockView(rest.blockName!))!.closeReason).toBe('timeout')
  })

  it('retries a transient catalog failure with backoff, counting attempts, then ends FAILED; publish --retry starts again', async () => {
    const publisher = await setUp()
    const ids = await lab.inject(2, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    const down = new CatalogError(
      'catalog-transient',
      'Rucio unreachable at http://127.0.0.1:1: ECONNREFUSED',
    )
    catalog.script.push(down, down, down)
    await publisher.run()
    let r = (await lab.store.get(ids[0]!))!
    expect(r).toMatchObject({ publicationState: 'PUBLISHING', publicationClass: 'catalog-transient' })
    let block = (await lab.store.blockView(r.blockName!))!
    expect(block).toMatchObject({ state: 'PUBLISHING', attempts: 1 })
    expect(block.nextAttemptAt! - lab.clock.now()).toBeGreaterThanOrEqual(8_000)
    // not before its time
    await publisher.run()
    expect(catalog.calls).toHaveLength(1)
    lab.clock.advance(60_000)
    await publisher.run()
    lab.clock.advance(120_000)
    await publisher.run()
    expect(catalog.calls).toHaveLength(3)
    r = (await lab.store.get(ids[0]!))!
    expect(r).toMatchObject({ publicationState: 'FAILED', publicationClass: 'catalog-transient' })
    expect(r.publicationReason).toContain('ECONNREFUSED')
    block = (await lab.store.blockView(r.blockName!))!
    expect(block).toMatchObject({ state: 'FAILED', attempts: 3 })
    // the transfer is not charged: still DONE, one attempt
    expect(r).toMatchObject({ state: 'DONE', attempt: 1 })

    expect(await lab.store.retryPublications({ task: 'task-alice' }, lab.clock.now(), 'alice')).toEqual({
      republished: 2,
      requeued: 0,
      blocks: 1,
      notFailed: 0,
    })
    await publisher.run()
    expect(catalog.calls.map((c) => c.name)).toEqual(Array(4).fill(r.blockName))
    expect(await pubStates(ids)).toEqual(['PUBLISHED', 'PUBLISHED'])
  })

  it('ends a permanent failure at once, and a file the catalog refuses alone fails alone and joins a new block on retry', async () => {
    const publisher = await setUp()
    const ids = await lab.inject(3, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    catalog.script.push(
      new CatalogError('catalog-permanent', 'Rucio answered 401 CannotAuthenticate: check catalog.auth', 401),
    )
    await publisher.run()
    expect((await lab.store.getMany(ids)).map((t) => t.publicationState)).toEqual([
      'FAILED',
      'FAILED',
      'FAILED',
    ])
    const failedBlock = (await lab.store.get(ids[0]!))!.blockName!
    expect(await lab.store.blockView(failedBlock)).toMatchObject({
      state: 'FAILED',
      attempts: 1,
      failureClass: 'catalog-permanent',
    })

    await lab.store.retryPublications({ ids }, lab.clock.now(), 'ops')
    const mismatch =
      'Rucio holds user.alice:/store/user/alice/f1.root with adler32 00000001; ASO wrote 00001001'
    catalog.script.push((b) => ({
      published: b.files.filter((f) => f.id !== ids[1]).map((f) => f.id),
      rejected: [{ id: ids[1]!, reason: mismatch }],
      ruleId: 'r1',
    }))
    await publisher.run()
    expect(await pubStates(ids)).toEqual(['PUBLISHED', 'FAILED', 'PUBLISHED'])
    expect(await lab.store.get(ids[1]!)).toMatchObject({
      publicationClass: 'catalog-permanent',
      publicationReason: mismatch,
    })

    // the refused file cannot go back into its closed block: it joins a new one
    expect(await lab.store.retryPublications({ ids: [ids[1]!] }, lab.clock.now(), 'ops')).toMatchObject({
      requeued: 1,
      blocks: 0,
    })
    await publisher.run()
    expect(catalog.calls.at(-1)!.files.map((f) => f.id)).toEqual([ids[1]])
    expect(catalog.calls.at(-1)!.name).not.toBe(failedBlock)
  })

  it('a block closed before a crash is published on the next run, its members unchanged and no attempt charged', async () => {
    const publisher = await setUp()
    const ids = await lab.inject(3, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    // the crash: the block was closed and marked, the process died during the catalog call
    const never = new Promise<never>(() => {})
    catalog.script.push(() => never)
    void publisher.run()
    await lab.waitFor(() => catalog.calls.length === 1, 'the catalog call')
    const block = (await lab.store.get(ids[0]!))!.blockName!
    expect(await pubStates(ids)).toEqual(Array(3).fill('PUBLISHING'))
    const restarted = new Publisher(lab.ctx)
    await restarted.run()
    expect(catalog.calls.map((c) => [c.name, c.files.length])).toEqual([
      [block, 3],
      [block, 3],
    ])
    expect(await lab.store.blockView(block)).toMatchObject({ state: 'PUBLISHED', attempts: 0 })
  })

  it('never publishes FAILED or KILLED files, and a retried transfer is publishable again', async () => {
    const publisher = await setUp()
    const [failed, killed, done] = await lab.inject(3, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'failed', 'SOURCE [2] No such file or directory', [failed!]))
    await lab.record(lab.outcomes(job!, 'done', '', [done!]))
    await lab.store.kill({ ids: [killed!] }, 'killed by alice', lab.clock.now(), 'alice')
    await lab.record(lab.outcomes(job!, 'killed', 'cancelled', [killed!]))
    const states = async () =>
      Promise.all(
        [failed!, killed!, done!].map(async (id) => {
          const t = (await lab.store.get(id))!
          return [t.state, t.publicationState]
        }),
      )
    await publisher.run()
    expect(await states()).toEqual([
      ['FAILED', 'NOT_REQUIRED'],
      ['KILLED', 'NOT_REQUIRED'],
      ['DONE', 'PUBLISHED'],
    ])
    expect(catalog.calls.flatMap((c) => c.files.map((f) => f.id))).toEqual([done])
    await lab.store.retry({ ids: [failed!] }, lab.clock.now(), 'alice')
    expect((await lab.store.get(failed!))!.publicationState).toBe('PENDING')
  })

  it('a job retry may replace a file not yet published (it leaves its open block), never a PUBLISHED one', async () => {
    const publisher = await setUp()
    const [a, b] = await lab.inject(2, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done', '', [a!]))
    await publisher.run()
    const open = (await lab.store.get(a!))!
    expect(open).toMatchObject({ publicationState: 'PENDING', blockName: expect.any(String) })
    const again = async (id: string) => {
      const r = (await lab.store.get(id))!
      const request = { ...r, jobRetry: r.jobRetry + 1 }
      return lab.store.inject([{ id, request }], { now: lab.clock.now(), actor: 'alice', maxAttempts: 1 })
    }
    expect((await again(a!))[0]).toMatchObject({ status: 'superseded' })
    expect(await lab.store.get(a!)).toMatchObject({
      state: 'NEW',
      publicationState: 'PENDING',
      blockName: null,
    })
    expect(await lab.store.blockView(open.blockName!)).toMatchObject({ files: 0 })

    await lab.record(lab.outcomes(job!, 'done', '', [b!]))
    const [job2] = await lab.submitted()
    await lab.record(lab.outcomes(job2!, 'done'))
    await publisher.run()
    expect((await lab.store.get(b!))!.publicationState).toBe('PUBLISHED')
    const refused = (await again(b!))[0]!
    expect(refused).toMatchObject({ status: 'rejected', error: { field: 'jobRetry' } })
    expect(refused.error!.message).toMatch(/is published in block .* whose content cannot change/)
  })

  it("notifies a file's callback when its publication ends, as when its transfer ended", async () => {
    const publisher = await setUp()
    const [id] = await lab.inject(1, publishable(DS1, { callbackUrl: 'https://jobs.example.org/cb' }))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    await publisher.run()
    const sent = await lab.store.dueWebhooks(lab.clock.now(), 10, 60_000)
    expect(sent.map((d) => JSON.parse(d.payload))).toEqual([
      expect.objectContaining({ type: 'transfer.terminal', id, state: 'DONE', publicationState: 'PENDING' }),
      expect.objectContaining({
        type: 'publication.terminal',
        id,
        publicationState: 'PUBLISHED',
        publicationClass: null,
      }),
    ])
  })

  it('two leaders publishing one block at once (a lease lost mid-call) record it once', async () => {
    const publisher = await setUp()
    const ids = await lab.inject(4, publishable(DS1))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    // the old leader's call hangs until the new leader's has finished
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    catalog.script.push(async (b) => {
      await held
      return { published: b.files.map((f) => f.id), rejected: [], ruleId: 'r-old' }
    })
    const old = publisher.run()
    await lab.waitFor(() => catalog.calls.length === 1, "the old leader's catalog call")
    await new Publisher(lab.ctx).run()
    release()
    await old
    expect(catalog.calls.map((c) => c.name)).toEqual([catalog.calls[0]!.name, catalog.calls[0]!.name])
    expect(await pubStates(ids)).toEqual(Array(4).fill('PUBLISHED'))
    const published = (await lab.store.history(ids[0]!)).filter((e) =>
      e.reason.startsWith('publication: published'),
    )
    expect(published).toHaveLength(1)
    expect(await lab.store.blockView(catalog.calls[0]!.name)).toMatchObject({
      state: 'PUBLISHED',
      attempts: 0,
    })
  })
})
