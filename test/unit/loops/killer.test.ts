/**
 * The killer alone: for files in KILLING it sends the engine one cancel per kill request, confirms KILLED at
 * once when the engine no longer knows the job (removing what the attempt may have left at the destination),
 * and leaves another agent's built-in engine job to that agent.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Killer } from '../../../src/agent/killer.js'
import { StorageError } from '../../../src/storage/protocol.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

describe('killer', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('sends a cancel once per kill request, for the files killed', async () => {
    lab = await makeLoopLab()
    const [a, b] = await lab.inject(2)
    const [job] = await lab.submitted()
    expect(await lab.store.kill({ ids: [a!] }, 'killed by test', lab.clock.now(), 'test')).toEqual({
      killed: 0,
      killing: 1,
    })
    const killer = new Killer(lab.ctx)
    expect(await killer.run()).toBe(1)
    expect(lab.engine.cancels()).toEqual([{ jobId: job!.jobId, transferIds: [a] }])
    // sent: not again, and the file waits in KILLING for the engine's `killed` outcome
    expect(await killer.run()).toBe(0)
    expect(lab.engine.cancels()).toHaveLength(1)
    expect(await lab.states([a!, b!])).toEqual(['KILLING', 'SUBMITTED'])

    // a later kill of another file of the job: one more cancel
    lab.clock.advance(1000)
    await lab.store.kill({ ids: [b!] }, 'killed by test', lab.clock.now(), 'test')
    expect(await killer.run()).toBe(2)
    expect(lab.engine.cancels()).toHaveLength(2)
    expect(lab.engine.cancels()[1]!.transferIds).toContain(b)
    expect(lab.storage.calls).toEqual([])
  })

  it('confirms KILLED when the engine no longer knows the job, and removes the attempt at the destination', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    const [job] = await lab.submitted()
    await lab.store.kill({ task: 'task-alice' }, 'killed by test', lab.clock.now(), 'test')
    lab.engine.held.delete(job!.jobId)
    // one of the two removals fails: the kill is confirmed all the same
    lab.storage.script.remove.push(new StorageError('DESTINATION', 13, 'Permission denied'))
    expect(await new Killer(lab.ctx).run()).toBe(2)
    expect(lab.engine.cancels()).toEqual([])
    expect(await lab.states(ids)).toEqual(['KILLED', 'KILLED'])
    const records = await lab.store.getMany(ids)
    expect(lab.storage.removed().sort()).toEqual(records.map((t) => `mock://B${t.destinationLfn}`).sort())
    expect(new Set(lab.storage.calls.map((c) => c.scope))).toEqual(new Set(['DESTINATION']))
  })

  it("leaves another agent's built-in engine job to that agent", async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    await lab.submitted({ agentId: 'other-agent' })
    await lab.store.kill({ ids: [id!] }, 'killed by test', lab.clock.now(), 'test')
    expect(await new Killer(lab.ctx).run()).toBe(0)
    expect(lab.engine.calls).toEqual([])
    expect(await lab.states([id!])).toEqual(['KILLING'])
  })

  it("cancels another agent's job on an engine whose jobs outlive their agent", async () => {
    lab = await makeLoopLab({ engine: { name: 'local', jobsOutliveAgent: true } })
    const [id] = await lab.inject(1)
    const [job] = await lab.submitted({ agentId: 'other-agent' })
    await lab.store.kill({ ids: [id!] }, 'killed by test', lab.clock.now(), 'test')
    expect(await new Killer(lab.ctx).run()).toBe(1)
    expect(lab.engine.cancels()).toEqual([{ jobId: job!.jobId, transferIds: [id] }])
  })
})
