/**
 * The rollup pruner alone: the dashboard's minute buckets go once 3 hours old and its hour buckets once 35 days
 * old, not before; a run that deleted something asks to run again at once (a full batch), and a long backlog
 * goes in bounded steps, a few runs.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { RollupPruner } from '../../../src/agent/rollup-pruner.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

const MINUTE = 60_000
const HOUR = 3_600_000
const DAY = 24 * HOUR

describe('rollup pruner', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  /** One file of alice's ends DONE now. */
  async function oneFileDone(): Promise<void> {
    await lab.inject(1)
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
  }

  /** Files that ended, per bucket, over everything the lab's clock has seen. */
  async function buckets(span: 'minute' | 'hour'): Promise<number[]> {
    const series = await lab.store.finishedSeries({ span, from: 0, to: lab.clock.now() + DAY })
    return series.map((b) => b.files)
  }

  it('deletes minute buckets after 3 hours and hour buckets after 35 days, not before', async () => {
    lab = await makeLoopLab()
    await oneFileDone()
    const pruner = new RollupPruner(lab.ctx)
    expect(await pruner.run()).toBe(0)
    expect(await buckets('minute')).toEqual([1])

    lab.clock.advance(3 * HOUR - MINUTE)
    expect(await pruner.run()).toBe(0)
    expect(await buckets('minute')).toEqual([1])

    lab.clock.advance(2 * MINUTE)
    expect(await pruner.run()).toBe(lab.config.agent.batchSize)
    expect(await buckets('minute')).toEqual([])
    expect(await buckets('hour')).toEqual([1])
    expect(await pruner.run()).toBe(0)

    lab.clock.advance(35 * DAY)
    expect(await pruner.run()).toBe(lab.config.agent.batchSize)
    expect(await buckets('hour')).toEqual([])
    expect(
      await lab.store.finishedSeries({ span: 'hour', from: 0, to: lab.clock.now(), user: 'alice' }),
    ).toEqual([])
  })

  it('prunes a long backlog in bounded steps, a few runs', async () => {
    lab = await makeLoopLab()
    await oneFileDone()
    lab.clock.advance(2 * HOUR)
    await oneFileDone()
    lab.clock.advance(4 * HOUR)
    const pruner = new RollupPruner(lab.ctx)
    // at most an hour of minute buckets per run: the older bucket first, then the other
    expect(await pruner.run()).toBe(lab.config.agent.batchSize)
    expect(await buckets('minute')).toEqual([1])
    expect(await pruner.run()).toBe(lab.config.agent.batchSize)
    expect(await buckets('minute')).toEqual([])
    expect(await pruner.run()).toBe(0)
  })
})
