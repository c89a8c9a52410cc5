/**
 * The receiver alone: outcomes the engine pushes are recorded as they come (a burst in one batch), a duplicate
 * changes nothing, an outcome for a file another agent holds is ignored, and once the engine's stream ends
 * the receiver drains.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Receiver } from '../../../src/agent/receiver.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

describe('receiver', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  /** A receiver on the lab's engine; `applied` gets the number of terminal transitions of each batch. */
  function startReceiver(): { receiver: Receiver; applied: number[] } {
    const applied: number[] = []
    const receiver = new Receiver(lab.ctx, lab.engine, (terminal) => applied.push(terminal))
    return { receiver, applied }
  }

  it('records pushed outcomes as they come, a burst in one batch', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(3)
    const [job] = await lab.submitted()
    const { receiver, applied } = startReceiver()
    lab.engine.push(...lab.outcomes(job!, 'done'))
    await lab.waitFor(() => applied.length > 0, 'the pushed outcomes applied')
    expect(applied).toEqual([3])
    expect(await lab.states(ids)).toEqual(['DONE', 'DONE', 'DONE'])
    lab.engine.endPushes()
    await receiver.drained()
  })

  it('ignores a duplicate outcome: one DONE in the history, no terminal transition reported twice', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted()
    const { receiver, applied } = startReceiver()
    const [done] = lab.outcomes(job!, 'done')
    lab.engine.push(done!)
    await lab.waitFor(() => applied.length === 1, 'the first outcome applied')
    // the same outcome again, then a late contradicting one: the record has moved on
    lab.engine.push(done!, { ...done!, result: 'failed', reason: 'TRANSFER [5] late' })
    await lab.waitFor(() => applied.length === 2, 'the duplicates handled')
    expect(applied).toEqual([1, 0])
    expect((await lab.store.get(id!))!.state).toBe('DONE')
    expect((await lab.store.history(id!)).filter((e) => e.to === 'DONE')).toHaveLength(1)
    lab.engine.endPushes()
    await receiver.drained()
  })

  it('ignores an outcome of the built-in engine for a file another agent holds', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted({ agentId: 'other-agent' })
    const { receiver, applied } = startReceiver()
    lab.engine.push(...lab.outcomes(job!, 'done'))
    lab.engine.endPushes()
    await receiver.drained()
    expect(applied).toEqual([0])
    expect((await lab.store.get(id!))!.state).toBe('SUBMITTED')
  })
})
