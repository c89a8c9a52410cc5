/**
 * The poller alone: it asks the engine about submitted jobs not polled for half a poll interval, records the
 * outcomes of finished ones, puts the files of a job the engine does not know back in the queue without
 * charging an attempt, and leaves alone jobs whose submit is in flight and other agents' built-in jobs.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Poller } from '../../../src/agent/poller.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'
import { finishedStatus } from '../../support/scripted-engine.js'

describe('poller', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it("records a finished job's outcomes: done, and a transient failure to retry", async () => {
    lab = await makeLoopLab()
    await lab.inject(2)
    const [job] = await lab.submitted()
    const [ok, flaky] = job!.transfers.map((t) => t.id)
    const poller = new Poller(lab.ctx)

    // just submitted: not due for a poll yet
    expect(await poller.run()).toBe(0)
    expect(lab.engine.statusCalls()).toEqual([])

    lab.clock.advance(lab.config.agent.pollInterval)
    lab.engine.script.status.push((ids) =>
      ids.map((id) =>
        finishedStatus(id, [
          ...lab.outcomes(job!, 'done', '', [ok!]),
          ...lab.outcomes(job!, 'failed', 'TRANSFER [110] Operation timed out', [flaky!]),
        ]),
      ),
    )
    expect(await poller.run()).toBe(1)
    expect(lab.engine.statusCalls()).toEqual([[job!.jobId]])
    expect(await lab.states([ok!, flaky!])).toEqual(['DONE', 'RETRY'])
    const retry = (await lab.store.get(flaky!))!
    expect(retry.attempt).toBe(1)
    expect(retry.nextAttemptAt).toBeGreaterThan(lab.clock.now())
    expect(retry.failureReason).toBe('TRANSFER [110] Operation timed out')
    expect(await lab.store.openEngineJobs({ engine: 'local', states: ['SUBMITTED'], limit: 10 })).toEqual([])
  })

  it('requeues the files of a job the engine does not know, without charging an attempt', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    const [job] = await lab.submitted()
    lab.engine.held.delete(job!.jobId)
    lab.clock.advance(lab.config.agent.pollInterval)
    expect(await new Poller(lab.ctx).run()).toBe(1)
    for (const t of await lab.store.getMany(ids)) {
      expect([t.state, t.attempt]).toEqual(['NEW', 1])
      const last = (await lab.store.history(t.id)).at(-1)!
      expect(last).toMatchObject({ from: 'SUBMITTED', to: 'NEW' })
      expect(last.reason).toMatch(/unknown to local.*no attempt charged/)
    }
  })

  it("records an active job's progress and does not ask about it again before half a poll interval", async () => {
    lab = await makeLoopLab()
    await lab.inject(1)
    const [job] = await lab.submitted()
    const submittedAt = lab.clock.now()
    lab.clock.advance(lab.config.agent.pollInterval)
    const progressAt = lab.clock.now() - 1000
    lab.engine.script.status.push((ids) =>
      ids.map((jobId) => ({ jobId, state: 'active', files: [], pending: [], lastProgressAt: progressAt })),
    )
    const poller = new Poller(lab.ctx)
    expect(await poller.run()).toBe(1)
    const [row] = await lab.store.openEngineJobs({ engine: 'local', states: ['SUBMITTED'], limit: 10 })
    expect(row).toMatchObject({ jobId: job!.jobId, lastPolledAt: lab.clock.now() })
    expect(row!.lastProgressAt).toBeGreaterThan(submittedAt)

    lab.clock.advance(lab.config.agent.pollInterval / 2 - 1)
    expect(await poller.run()).toBe(0)
    lab.clock.advance(2)
    expect(await poller.run()).toBe(1)
    expect(lab.engine.statusCalls()).toHaveLength(2)
  })

  it("leaves alone a job whose submit is in flight here, and another agent's built-in engine job", async () => {
    lab = await makeLoopLab()
    await lab.inject(1)
    await lab.inject(1, () => ({ user: 'bob' }))
    const [mine] = await lab.submitted()
    const [theirs] = await lab.submitted({ user: 'bob', agentId: 'other-agent' })
    lab.engine.held.clear()
    lab.busyJobs.add(mine!.jobId)
    lab.clock.advance(lab.config.agent.pollInterval)
    const poller = new Poller(lab.ctx)
    expect(await poller.run()).toBe(0)
    expect(lab.engine.statusCalls()).toEqual([])
    expect(await lab.states([mine!.transfers[0]!.id, theirs!.transfers[0]!.id])).toEqual([
      'SUBMITTED',
      'SUBMITTED',
    ])

    // its submit over, the job is asked about (and, unknown to the engine, requeued)
    lab.busyJobs.delete(mine!.jobId)
    expect(await poller.run()).toBe(1)
    expect(lab.engine.statusCalls()).toEqual([[mine!.jobId]])
    expect(await lab.states([mine!.transfers[0]!.id])).toEqual(['NEW'])
  })
})
