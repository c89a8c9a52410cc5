/**
 * The submitter alone: it shares a link's free capacity between the users waiting on it (by weight), never
 * lets the link exceed its limit, and records what the engine answered: accepted (SUBMITTED), refused for now
 * (NEW, no attempt charged), refused for good (FAILED), no answer (left SUBMITTING for the reaper).
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Submitter } from '../../../src/agent/submitter.js'
import { CredentialHoldError, EngineSubmitError, type JobIdContext } from '../../../src/engines/types.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'

/** Files handed to the engine per user, over every submit call so far. */
function filesPerUser(lab: LoopLab): Record<string, number> {
  const out: Record<string, number> = {}
  for (const job of lab.engine.submits()) out[job.user] = (out[job.user] ?? 0) + job.files.length
  return out
}

describe('submitter', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  it('shares a link between two users by weight and never exceeds its maxActive', async () => {
    lab = await makeLoopLab({ config: { links: { default: { maxActive: 4 } } } })
    const alice = await lab.inject(10)
    await lab.inject(10, () => ({ user: 'bob' }))
    const submitter = new Submitter(lab.ctx)

    expect(await submitter.run()).toBe(4)
    expect(filesPerUser(lab)).toEqual({ alice: 2, bob: 2 })
    expect((await lab.store.inFlightByLink()).get('A->B')).toBe(4)
    const submittedIds = lab.engine.submits().flatMap((j) => j.files.map((f) => f.transferId))
    expect(new Set(await lab.states(submittedIds))).toEqual(new Set(['SUBMITTED']))

    // the link is full: nothing more is claimed or submitted
    expect(await submitter.run()).toBe(0)
    expect(lab.engine.submits()).toHaveLength(2)

    // one of alice's files ends: exactly one slot opens
    const [aliceJob] = lab.engine.submits().filter((j) => j.user === 'alice')
    const done = aliceJob!.files[0]!
    await lab.record([
      { jobId: aliceJob!.id, transferId: done.transferId, attempt: 1, result: 'done', reason: '' },
    ])
    expect(alice).toContain(done.transferId)
    expect(await submitter.run()).toBe(1)
    expect(lab.engine.submits()).toHaveLength(3)
    expect((await lab.store.inFlightByLink()).get('A->B')).toBe(4)
  })

  it('gives a user of weight 3 three times the share of a user of weight 1', async () => {
    lab = await makeLoopLab({ config: { links: { default: { maxActive: 4 } } } })
    await lab.inject(10)
    await lab.inject(10, () => ({ user: 'bob' }))
    await lab.store.setUserWeight('bob', 3, 'test', lab.clock.now())
    expect(await new Submitter(lab.ctx).run()).toBe(4)
    expect(filesPerUser(lab)).toEqual({ alice: 1, bob: 3 })
  })

  it("follows an operator's maxActive for the link over aso.yaml's, and submits nothing on a paused link", async () => {
    lab = await makeLoopLab({ config: { links: { default: { maxActive: 10 } } } })
    await lab.inject(5)
    await lab.store.setLinkSetting('A->B', { paused: true }, 'test', lab.clock.now())
    const submitter = new Submitter(lab.ctx)
    expect(await submitter.run()).toBe(0)
    expect(lab.engine.calls).toEqual([])

    await lab.store.setLinkSetting('A->B', { paused: false, maxActive: 2 }, 'test', lab.clock.now())
    expect(await submitter.run()).toBe(2)
    expect(filesPerUser(lab)).toEqual({ alice: 2 })
    expect((await lab.store.inFlightByLink()).get('A->B')).toBe(2)
  })

  it('puts a job the engine refuses for now back in the queue uncharged, and fails one it refuses for good', async () => {
    lab = await makeLoopLab()
    const [first] = await lab.inject(1)
    lab.engine.script.submit.push(new EngineSubmitError('server busy', true))
    const submitter = new Submitter(lab.ctx)
    expect(await submitter.run()).toBe(1)
    const back = (await lab.store.get(first!))!
    expect([back.state, back.attempt]).toEqual(['NEW', 1])
    expect((await lab.store.history(first!)).at(-1)).toMatchObject({ from: 'SUBMITTING', to: 'NEW' })

    lab.engine.script.submit.push(
      new EngineSubmitError('refused', false, 'DESTINATION [13] Permission denied'),
    )
    expect(await submitter.run()).toBe(1)
    const failed = (await lab.store.get(first!))!
    expect(failed).toMatchObject({ state: 'FAILED', failureClass: 'permanent-destination' })
    expect(failed.failureReason).toBe('DESTINATION [13] Permission denied')
    expect(lab.engine.submits()).toHaveLength(2)
    expect(lab.busyJobs.size).toBe(0)
  })

  it('leaves a job whose submit got no answer SUBMITTING under its id, for the reaper', async () => {
    lab = await makeLoopLab()
    const [id] = await lab.inject(1)
    lab.engine.script.submit.push(new EngineSubmitError('no answer', true, undefined, { inDoubt: true }))
    expect(await new Submitter(lab.ctx).run()).toBe(1)
    const rec = (await lab.store.get(id!))!
    expect(rec.state).toBe('SUBMITTING')
    expect(rec.engineJobId).toBe(lab.engine.submits()[0]!.id)
    expect(lab.busyJobs.size).toBe(0)
  })

  it('cancels at the engine a file killed while its submit call was in flight', async () => {
    lab = await makeLoopLab()
    const [kept, killed] = await lab.inject(2)
    lab.engine.script.submit.push(async () => {
      await lab.store.kill({ ids: [killed!] }, 'killed by test', lab.clock.now(), 'test')
    })
    expect(await new Submitter(lab.ctx).run()).toBe(2)
    const [job] = lab.engine.submits()
    expect(lab.engine.cancels()).toEqual([{ jobId: job!.id, transferIds: [killed] }])
    expect(await lab.states([kept!, killed!])).toEqual(['SUBMITTED', 'KILLING'])
  })

  it("holds a user without a usable credential on every link, and still serves the others' queues", async () => {
    lab = await makeLoopLab({ config: { links: { default: { maxActive: 4 } } } })
    const alice = await lab.inject(3)
    await lab.inject(3, () => ({ user: 'bob' }))
    const noProxyForAlice = (ctx: JobIdContext) => {
      if (ctx.user === 'alice') throw new CredentialHoldError('alice', 'no proxy found')
      return (sid: string) => `local-${sid}`
    }
    lab.engine.script.jobIdFactory.push(noProxyForAlice, noProxyForAlice)
    const submitter = new Submitter(lab.ctx)
    await submitter.run()
    expect(filesPerUser(lab)).toEqual({ bob: 2 })
    expect(
      (await lab.store.activeHolds(lab.clock.now())).map((h) => [h.user, h.site, h.class, h.reason]),
    ).toEqual([['alice', '*', 'credential', 'no proxy found']])
    expect(new Set(await lab.states(alice))).toEqual(new Set(['NEW']))

    // next cycle: alice is skipped while held, bob gets the rest of the link
    await submitter.run()
    expect(filesPerUser(lab)).toEqual({ bob: 3 })
    expect(new Set(await lab.states(alice))).toEqual(new Set(['NEW']))
  })
})
