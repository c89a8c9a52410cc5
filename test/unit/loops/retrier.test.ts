/**
 * The retrier alone: a file in RETRY goes back to NEW for its next attempt once its backoff has passed, not a
 * moment before, and the submitter is woken only when something was promoted.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Retrier } from '../../../src/agent/retrier.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

describe('retrier', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('promotes a retry once its backoff has passed, not before, and wakes the submitter then', async () => {
    lab = await makeLoopLab()
    await lab.inject(2)
    // two files failing ten minutes apart: the backoff of `early` ends first
    const [first] = await lab.submitted({ limit: 1 })
    await lab.record(lab.outcomes(first!, 'failed', 'TRANSFER [110] Operation timed out'))
    lab.clock.advance(10 * 60_000)
    const [second] = await lab.submitted()
    await lab.record(lab.outcomes(second!, 'failed', 'TRANSFER [110] Operation timed out'))
    const early = first!.transfers[0]!.id
    const late = second!.transfers[0]!.id
    const dueAt = (await lab.store.get(early))!.nextAttemptAt!
    const lateDueAt = (await lab.store.get(late))!.nextAttemptAt!
    expect(dueAt).toBeLessThan(lateDueAt)
    const retrier = new Retrier(lab.ctx)

    // not yet due: nothing moves, nobody is woken
    lab.clock.advance(dueAt - 1 - lab.clock.now())
    expect(await retrier.run()).toBe(0)
    expect(await lab.states([early, late])).toEqual(['RETRY', 'RETRY'])
    expect(lab.wakes).toEqual([])

    lab.clock.advance(1)
    expect(await retrier.run()).toBe(1)
    const next = (await lab.store.get(early))!
    expect([next.state, next.attempt, next.nextAttemptAt]).toEqual(['NEW', 2, null])
    expect(await lab.states([late])).toEqual(['RETRY'])
    expect(lab.wakes).toEqual(['submitter'])

    lab.clock.advance(lateDueAt - lab.clock.now())
    expect(await retrier.run()).toBe(1)
    expect(await lab.states([early, late])).toEqual(['NEW', 'NEW'])
    expect(lab.wakes).toEqual(['submitter', 'submitter'])
  })

  it('promotes at most a batch per run, the longest due first', async () => {
    lab = await makeLoopLab({ config: { agent: { batchSize: 2 } } })
    await lab.inject(3)
    // failed one after the other: `ids` in the order their backoffs end
    const ids: string[] = []
    for (let i = 0; i < 3; i++) {
      const [job] = await lab.submitted({ limit: 1 })
      ids.push(job!.transfers[0]!.id)
      await lab.record(lab.outcomes(job!, 'failed', 'TRANSFER [110] Operation timed out'))
      lab.clock.advance(10 * 60_000)
    }
    lab.clock.advance(24 * 3_600_000)
    const retrier = new Retrier(lab.ctx)
    expect(await retrier.run()).toBe(2)
    expect(await lab.states(ids)).toEqual(['NEW', 'NEW', 'RETRY'])
    expect(await retrier.run()).toBe(1)
    expect(await lab.states(ids)).toEqual(['NEW', 'NEW', 'NEW'])
  })
})
