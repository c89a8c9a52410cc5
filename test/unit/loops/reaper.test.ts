/**
 * The reaper alone: it takes over the open jobs of an agent whose heartbeat is older than the lease and hands
 * them to the engine again under their own id (never a second engine job), resubmits its own jobs stuck in
 * SUBMITTING past the submit timeout, and cancels and retries jobs with no progress for the stall timeout.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Reaper } from '../../../src/agent/reaper.js'
import { EngineSubmitError } from '../../../src/engines/types.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

/** An agent on another host that beat once, now. */
async function otherAgent(lab: LoopLab, id: string): Promise<void> {
  const now = lab.clock.now()
  await lab.store.heartbeat({
    id,
    host: 'elsewhere.example',
    pid: 1,
    startedAt: now,
    heartbeatAt: now,
    loops: {},
  })
}

describe('reaper', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('resolves an orphaned SUBMITTING job of a dead agent under its own id, without a second engine job', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    await otherAgent(lab, 'dead-agent')
    const [job] = await lab.claim({ agentId: 'dead-agent' })
    const reaper = new Reaper(lab.ctx)

    // its heartbeat is within the lease: alive, its job is its own
    lab.clock.advance(lab.config.agent.lease)
    expect(await reaper.run()).toBe(0)
    expect(lab.engine.calls).toEqual([])

    lab.clock.advance(1)
    expect(await reaper.run()).toBe(1)
    expect((await lab.store.agents()).map((a) => a.id)).toEqual([])
    const [resubmitted, ...more] = lab.engine.submits()
    expect(more).toEqual([])
    expect(resubmitted!.id).toBe(job!.jobId)
    expect(resubmitted!.files.map((f) => f.transferId).sort()).toEqual([...ids].sort())
    // an earlier run of this very attempt may have written the destination
    expect(resubmitted!.files.every((f) => f.ownsDestination)).toBe(true)
    for (const t of await lab.store.getMany(ids)) {
      expect([t.state, t.agentId, t.engineJobId, t.submissions, t.attempt]).toEqual([
        'SUBMITTED',
        lab.ctx.agentId,
        job!.jobId,
        1,
        1,
      ])
    }
    const open = await lab.store.openEngineJobs({
      engine: 'local',
      states: ['SUBMITTING', 'SUBMITTED'],
      limit: 10,
    })
    expect(open.map((j) => [j.jobId, j.agentId])).toEqual([[job!.jobId, lab.ctx.agentId]])

    // resolved: the next run has nothing to do
    expect(await reaper.run()).toBe(0)
    expect(lab.engine.submits()).toHaveLength(1)
    expect(lab.busyJobs.size).toBe(0)
  })

  it("confirms the kill of a dead agent's built-in job file and hands the engine only the others", async () => {
    lab = await makeLoopLab()
    const [killed, kept] = await lab.inject(2)
    await otherAgent(lab, 'dead-agent')
    const [job] = await lab.submitted({ agentId: 'dead-agent' })
    await lab.store.kill({ ids: [killed!] }, 'killed by test', lab.clock.now(), 'test')
    lab.clock.advance(lab.config.agent.lease + 1)
    expect(await new Reaper(lab.ctx).run()).toBe(1)
    expect(await lab.states([killed!, kept!])).toEqual(['KILLED', 'SUBMITTED'])
    // the attempt died with its agent: nothing to cancel, only its leftovers to remove
    expect(lab.engine.cancels()).toEqual([])
    const dead = (await lab.store.get(killed!))!
    expect(lab.storage.calls).toEqual([
      { op: 'remove', url: `mock://B${dead.destinationLfn}`, scope: 'DESTINATION' },
    ])
    expect(lab.engine.submits().map((j) => [j.id, j.files.map((f) => f.transferId)])).toEqual([
      [job!.jobId, [kept]],
    ])
  })

  it('judges no heartbeat before it has reached the store itself for a whole lease', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    await otherAgent(lab, 'quiet-agent')
    await lab.claim({ agentId: 'quiet-agent' })
    lab.clock.advance(10 * lab.config.agent.lease)
    // back from a store outage a moment ago: every heartbeat looks old, none is proof of death
    const since = lab.clock.now() - lab.config.agent.lease + 1
    expect(await new Reaper(lab.ctx, () => since).run()).toBe(0)
    expect(await new Reaper(lab.ctx, () => null).run()).toBe(0)
    expect(lab.engine.calls).toEqual([])
    expect((await lab.store.get(id!))!.agentId).toBe('quiet-agent')
    expect((await lab.store.agents()).map((a) => a.id)).toEqual(['quiet-agent'])
  })

  it('resubmits its own job stuck in SUBMITTING past the submit timeout, under the same id', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    const [job] = await lab.claim()
    const reaper = new Reaper(lab.ctx)
    lab.clock.advance(lab.config.agent.submitTimeout - 1)
    expect(await reaper.run()).toBe(0)

    lab.clock.advance(1)
    // a submit in flight here is not stuck
    lab.busyJobs.add(job!.jobId)
    expect(await reaper.run()).toBe(0)
    lab.busyJobs.delete(job!.jobId)

    // the engine does not answer: still SUBMITTING under its id, tried again next time
    lab.engine.script.submit.push(new EngineSubmitError('no answer', true, undefined, { inDoubt: true }))
    expect(await reaper.run()).toBe(1)
    expect((await lab.store.get(id!))!.state).toBe('SUBMITTING')
    expect(await reaper.run()).toBe(1)
    expect(lab.engine.submits().map((j) => j.id)).toEqual([job!.jobId, job!.jobId])
    const rec = (await lab.store.get(id!))!
    expect([rec.state, rec.engineJobId, rec.submissions]).toEqual(['SUBMITTED', job!.jobId, 1])
  })

  it('cancels a job with no progress for the stall timeout and charges its files an attempt', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    const [job] = await lab.submitted()
    const reaper = new Reaper(lab.ctx)
    lab.clock.advance(lab.config.agent.stallTimeout)
    expect(await reaper.run()).toBe(0)
    expect(lab.engine.cancels()).toEqual([])

    lab.clock.advance(1)
    expect(await reaper.run()).toBe(2)
    expect(lab.engine.cancels()).toEqual([{ jobId: job!.jobId, transferIds: undefined }])
    for (const t of await lab.store.getMany(ids)) {
      expect(t.state).toBe('RETRY')
      expect(t.failureReason).toMatch(/^TRANSFER \[110\] no progress from local for .*; cancelled$/)
    }
  })
})
