/**
 * The submitter with quota admission (issue 18): a destination with a quota gets no more of a user's bytes than
 * fit, files in queue order (a file larger than what is left waits too); when nothing fits, the user's files to
 * that site wait under a `quota` hold with the numbers, and room again releases it. No attempt is charged.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { Submitter } from '../../../src/agent/submitter.js'
import { type LoopLab, makeLoopLab, mockSite } from '../../support/loop-lab.js'

const MB = 1_000_000

describe('submitter with quota admission', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  const quotaLab = (perUser: number) =>
    makeLoopLab({
      config: {
        sites: { A: mockSite('A'), B: mockSite('B', { quota: { probe: false, perUser, recheck: '30s' } }) },
      },
    })

  const submittedSizes = () => lab.engine.submits().flatMap((j) => j.files.map((f) => f.size))

  it('takes files in queue order while they fit; a file larger than what is left waits', async () => {
    lab = await quotaLab(10 * MB)
    // sizes in queue order: 4, 4, 3, 1 MB (the 3 MB one does not fit after 8, nor does the 1 MB behind it)
    for (const [i, size] of [4, 4, 3, 1].entries()) {
      await lab.inject(1, () => ({
        size: size * MB,
        jobId: 100 + i,
        destinationLfn: `/store/user/alice/q${i}.root`,
      }))
      lab.clock.advance(1)
    }
    const submitter = new Submitter(lab.ctx)
    expect(await submitter.run()).toBe(2)
    expect(submittedSizes()).toEqual([4 * MB, 4 * MB])
    // in flight counts: 2 MB left, the 3 MB file is next in line: nothing fits, the rest is held
    expect(await submitter.run()).toBe(0)
    const holds = await lab.store.activeHolds(lab.clock.now())
    expect(holds).toHaveLength(1)
    expect(holds[0]).toMatchObject({
      user: 'alice',
      site: 'B',
      class: 'quota',
      until: lab.clock.now() + 30_000,
    })
    expect(holds[0]!.reason).toContain('2 files (3.8 MiB, 4000000 B) of alice wait for B')
    expect(holds[0]!.reason).toContain('configured quota of sites.B.quota.perUser')
    expect(holds[0]!.reason).toContain('room for 1.9 MiB (2000000 B)')
    const waiting = (await lab.store.counts({ user: 'alice' })).filter((c) => c.state === 'NEW')
    expect(waiting.reduce((n, c) => n + c.n, 0)).toBe(2)
  })

  it('a file larger than the whole quota waits, held, without an attempt', async () => {
    lab = await quotaLab(2 * MB)
    const [id] = await lab.inject(1, () => ({ size: 3 * MB }))
    expect(await new Submitter(lab.ctx).run()).toBe(0)
    expect(lab.engine.submits()).toEqual([])
    const [hold] = await lab.store.activeHolds(lab.clock.now())
    expect(hold?.class).toBe('quota')
    const rec = await lab.store.get(id!)
    expect(rec).toMatchObject({ state: 'NEW', attempt: 1, failureClass: null })
  })

  it('room again (a file in flight failed for good: its bytes no longer count): the hold is released', async () => {
    lab = await quotaLab(5 * MB)
    await lab.inject(2, () => ({ size: 3 * MB }))
    const submitter = new Submitter(lab.ctx)
    expect(await submitter.run()).toBe(1)
    expect(await submitter.run()).toBe(0)
    expect(await lab.store.activeHolds(lab.clock.now())).toHaveLength(1)
    // the first file fails for good elsewhere (its bytes no longer count), and the hold's recheck passes
    const [job] = lab.engine.submits()
    await lab.record(
      job!.files.map((f) => ({
        jobId: job!.id,
        transferId: f.transferId,
        attempt: f.attempt,
        result: 'failed' as const,
        reason: 'SOURCE [2] No such file or directory',
      })),
    )
    lab.clock.advance(30_000)
    expect(await submitter.run()).toBe(1)
    expect(await lab.store.activeHolds(lab.clock.now())).toEqual([])
  })
})
