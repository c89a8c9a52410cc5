/**
 * The link tuner alone, on a real store and a virtual clock: it measures what copies did per link since its
 * last run, moves an adaptive link's limit, logs the decision, leaves fixed, fts3 and pinned links alone, and
 * the limit it stores is the one the submitters schedule by (effectiveLink over linkSettings()).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { LinkTuner } from '../../../src/agent/link-tuner.js'
import { Submitter } from '../../../src/agent/submitter.js'
import { effectiveLink } from '../../../src/reports/link-limits.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

const MINUTE = 60_000

describe('link tuner', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  const limitOf = async (source = 'A', destination = 'B') =>
    effectiveLink(lab.ctx.sites, await lab.store.linkSettings(), source, destination).maxActive

  /** `n` files of the link copied in one minute of the lab's clock, ending with `result`. */
  async function minuteOf(n: number, result: 'done' | 'failed', destination = 'B') {
    const jobs = await lab.submitted({ destination, limit: n })
    for (const job of jobs) await lab.record(lab.outcomes(job, result))
    lab.clock.advance(MINUTE)
  }

  it('raises an adaptive link from startActive after a measured interval, and logs why', async () => {
    lab = await makeLoopLab({
      config: { links: { 'A->B': { adaptive: true, startActive: 4, minActive: 2, maxActive: 40 } } },
    })
    await lab.inject(50)
    const tuner = new LinkTuner(lab.ctx)
    expect(await limitOf()).toBe(4)
    // the first run only marks where measuring starts
    await tuner.run()
    expect(await lab.store.linkDecisions('A->B', 10)).toEqual([])

    // 4 copies are too few to judge: they are added to the next minutes' until there are 12
    await minuteOf(4, 'done')
    await tuner.run()
    expect(await limitOf()).toBe(4)
    expect(await lab.store.linkDecisions('A->B', 10)).toEqual([])
    await minuteOf(4, 'done')
    await tuner.run()
    await minuteOf(4, 'done')
    await tuner.run()
    expect(await limitOf()).toBe(5)
    const [d] = await lab.store.linkDecisions('A->B', 10)
    expect(d).toMatchObject({ link: 'A->B', from: 4, to: 5, at: lab.clock.now() })
    expect(d!.reason).toMatch(/first measurement .* at 4: probing higher/)
    expect(d!.measurements).toMatchObject({ doneFiles: 12, transientFailures: 0 })
    expect(lab.wakes).toContain('submitter')
  })

  it('backs off on a burst of transient failures', async () => {
    lab = await makeLoopLab({
      config: { links: { 'A->B': { adaptive: true, startActive: 10, minActive: 2, maxActive: 40 } } },
    })
    await lab.inject(50)
    const tuner = new LinkTuner(lab.ctx)
    await tuner.run()
    await minuteOf(10, 'failed')
    await tuner.run()
    expect(await limitOf()).toBe(7)
    const [d] = await lab.store.linkDecisions('A->B', 1)
    expect(d!.reason).toMatch(/10 transient failures, 100% .*backing off/)
  })

  it("leaves a pinned link at the operator's limit until unpinned, then goes on from its own", async () => {
    lab = await makeLoopLab({
      config: { links: { 'A->B': { adaptive: true, startActive: 4, maxActive: 40 } } },
    })
    await lab.inject(50)
    const tuner = new LinkTuner(lab.ctx)
    await tuner.run()
    await lab.store.setLinkSetting('A->B', { maxActive: 3 }, 'ops', lab.clock.now())
    await minuteOf(3, 'done')
    await tuner.run()
    expect(await limitOf()).toBe(3)
    expect(await lab.store.linkDecisions('A->B', 10)).toEqual([])

    await lab.store.setLinkSetting('A->B', { maxActive: null }, 'ops', lab.clock.now())
    expect(await limitOf()).toBe(4)
    for (let i = 0; i < 3; i++) {
      await minuteOf(4, 'done')
      await tuner.run()
    }
    expect(await limitOf()).toBe(5)
  })

  it("is the limit the submitter schedules by: startActive, the tuner's, then an operator's pin", async () => {
    lab = await makeLoopLab({
      config: { links: { 'A->B': { adaptive: true, startActive: 3, minActive: 2, maxActive: 40 } } },
    })
    await lab.inject(30)
    const submitter = new Submitter(lab.ctx)
    expect(await submitter.run()).toBe(3)
    expect(await submitter.run()).toBe(0)
    await lab.store.recordLinkTuning({
      link: 'A->B',
      limit: 7,
      state: '{}',
      now: lab.clock.now(),
      decision: null,
    })
    expect(await submitter.run()).toBe(4)
    await lab.store.setLinkSetting('A->B', { maxActive: 9 }, 'ops', lab.clock.now())
    expect(await submitter.run()).toBe(2)
  })

  it('never touches fixed links', async () => {
    lab = await makeLoopLab({ config: { links: { 'A->B': { maxActive: 7 } } } })
    await lab.inject(20)
    const tuner = new LinkTuner(lab.ctx)
    await tuner.run()
    await minuteOf(7, 'done')
    await tuner.run()
    expect(await limitOf()).toBe(7)
    expect(await lab.store.tunedLinks()).toEqual([])
  })
})
