/**
 * The job hand-over shared by the submitter and the reaper: what a resubmission does differently from a first
 * hand-over when the engine refuses, and that both cancel at the engine what was killed during the call.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { JobHandOver } from '../../src/agent/hand-over.js'
import { EngineSubmitError } from '../../src/engines/types.js'
import type { ClaimedJob } from '../../src/store/ops/claim.js'
import { type LoopLab, makeLoopLab } from '../support/loop-lab.js'

/** Hands a claimed job over again, as the reaper does for a job a dead agent left SUBMITTING. */
function resubmit(lab: LoopLab, job: ClaimedJob) {
  return new JobHandOver(lab.ctx).handOver({
    engine: lab.engine,
    jobId: job.jobId,
    transfers: job.transfers,
    maxActive: 10,
    resubmission: { resumed: true },
  })
}

describe('job hand-over', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('puts the files of a refused resubmission back in the queue uncharged, even when refused for good', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    const [job] = await lab.claim()
    lab.engine.script.submit.push(
      new EngineSubmitError('refused', false, 'DESTINATION [13] Permission denied'),
    )
    await resubmit(lab, job!)
    for (const t of await lab.store.getMany(ids))
      expect([t.state, t.attempt, t.failureClass]).toEqual(['NEW', 1, null])
    expect((await lab.store.history(ids[0]!)).at(-1)!.reason).toMatch(/^resubmission failed: refused/)
    expect(lab.busyJobs.size).toBe(0)
  })

  it('leaves a resubmission with no answer SUBMITTING, and does not release a busy mark the caller holds', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    const [job] = await lab.claim()
    lab.engine.script.submit.push(new EngineSubmitError('no answer', true, undefined, { inDoubt: true }))
    lab.busyJobs.add(job!.jobId)
    await resubmit(lab, job!)
    expect((await lab.store.get(id!))!.state).toBe('SUBMITTING')
    expect([...lab.busyJobs]).toEqual([job!.jobId])
  })

  it('cancels at the engine a file killed while a resubmission was in flight, and marks the rest SUBMITTED', async () => {
    lab = await makeLoopLab()
    const [kept, killed] = await lab.inject(2)
    const [job] = await lab.claim()
    lab.engine.script.submit.push(async () => {
      await lab.store.kill({ ids: [killed!] }, 'killed by test', lab.clock.now(), 'test')
    })
    await resubmit(lab, job!)
    expect(lab.engine.submits()[0]!.files.every((f) => f.ownsDestination)).toBe(true)
    expect(lab.engine.cancels()).toEqual([{ jobId: job!.jobId, transferIds: [killed] }])
    expect(await lab.states([kept!, killed!])).toEqual(['SUBMITTED', 'KILLING'])
  })
})
