/** The submitter claims a cycle's queues in transactions of at most `agent.batchSize` files, in order. */
import { describe, expect, it } from 'vitest'
import { claimGroups } from '../../src/agent/submitter.js'

const w = (...limits: number[]) => limits.map((limit, i) => ({ i, spec: { limit } }))
const shape = (groups: ReturnType<typeof claimGroups<{ i: number; spec: { limit: number } }>>) =>
  groups.map((g) => g.map((x) => x.i))

describe('claim groups', () => {
  it('puts consecutive queues together while their files fit, keeping their order', () => {
    expect(shape(claimGroups(w(400, 300, 300, 200, 1000, 1), 1000))).toEqual([[0, 1, 2], [3], [4], [5]])
  })

  it('gives a queue larger than the bound a transaction of its own, and nothing for no queue', () => {
    expect(shape(claimGroups(w(5000, 10), 1000))).toEqual([[0], [1]])
    expect(claimGroups([], 1000)).toEqual([])
  })
})
