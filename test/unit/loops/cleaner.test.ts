/**
 * The cleaner alone: it deletes a temporary source once its file is DONE (a FAILED one only after the
 * retention, kept for a retry), never anything outside a temporary area of the site, and records FAILED with
 * the storage's reason when a deletion fails.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Cleaner } from '../../../src/agent/cleaner.js'
import { StorageError } from '../../../src/storage/protocol.js'
import { type LoopLab, makeLoopLab, mockSite } from '../../support/loop-lab.js'

describe('cleaner', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('deletes the source of a DONE file at once, and of a FAILED one only once the retention has passed', async () => {
    lab = await makeLoopLab({ config: { retry: { maxAttempts: 1 } } })
    const [a, b, c] = await lab.inject(3)
    const [job] = await lab.submitted()
    const byId = new Map(job!.transfers.map((t) => [t.id, t]))
    await lab.record([
      ...lab.outcomes(job!, 'done', '', [a!]),
      ...lab.outcomes(job!, 'failed', 'DESTINATION [13] Permission denied', [b!]),
    ])
    const cleaner = new Cleaner(lab.ctx)
    expect(await cleaner.run()).toBe(1)
    expect(lab.storage.calls).toEqual([
      { op: 'remove', url: `mock://A${byId.get(a!)!.sourceLfn}`, scope: 'SOURCE' },
    ])
    const cleaned = (await lab.store.get(a!))!
    expect(cleaned.sourceCleanup).toBe('DONE')
    expect((await lab.store.history(a!)).at(-1)!.reason).toMatch(/^source clean-up done: removed mock:\/\/A/)
    expect((await lab.store.get(b!))!.sourceCleanup).toBe('PENDING')
    // the file still in flight has nothing to clean
    expect((await lab.store.get(c!))!.sourceCleanup).toBe('NONE')

    // nothing more due until the FAILED file's retention has passed
    lab.clock.advance(lab.config.cleanup.tempRetention - 1)
    expect(await cleaner.run()).toBe(0)
    expect(lab.storage.calls).toHaveLength(1)
    lab.clock.advance(1)
    expect(await cleaner.run()).toBe(1)
    expect(lab.storage.removed()).toEqual([
      `mock://A${byId.get(a!)!.sourceLfn}`,
      `mock://A${byId.get(b!)!.sourceLfn}`,
    ])
    expect((await lab.store.get(b!))!.sourceCleanup).toBe('DONE')
  })

  it('records FAILED with the reason when the storage refuses the deletion, and does not try again', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    lab.storage.script.remove.push(new StorageError('SOURCE', 13, 'Permission denied'))
    const cleaner = new Cleaner(lab.ctx)
    expect(await cleaner.run()).toBe(1)
    expect((await lab.store.get(id!))!.sourceCleanup).toBe('FAILED')
    expect((await lab.store.history(id!)).at(-1)!.reason).toBe(
      'source clean-up failed: SOURCE [13] Permission denied',
    )
    expect(await cleaner.run()).toBe(0)
    expect(lab.storage.calls).toHaveLength(1)
  })

  it("never deletes outside the site's temporary areas: such a source is SKIPPED", async () => {
    // the site's temporary area changed in aso.yaml after the file was injected
    lab = await makeLoopLab({
      config: {
        sites: {
          A: mockSite('A', { tempArea: '/store/scratch/{user}/' }),
          B: mockSite('B'),
          C: mockSite('C'),
        },
      },
    })
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    expect(await new Cleaner(lab.ctx).run()).toBe(1)
    expect(lab.storage.calls).toEqual([])
    const rec = (await lab.store.get(id!))!
    expect(rec.sourceCleanup).toBe('SKIPPED')
    expect((await lab.store.history(id!)).at(-1)!.reason).toBe(
      `source clean-up skipped: ${rec.sourceLfn} is not in a temporary area`,
    )
  })

  it('deletes nothing when sources are kept on DONE', async () => {
    lab = await makeLoopLab({ config: { cleanup: { deleteSourceOnDone: false } } })
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    lab.clock.advance(lab.config.cleanup.tempRetention * 2)
    expect(await new Cleaner(lab.ctx).run()).toBe(0)
    expect(lab.storage.calls).toEqual([])
    expect((await lab.store.get(id!))!.sourceCleanup).toBe('SKIPPED')
  })
})
