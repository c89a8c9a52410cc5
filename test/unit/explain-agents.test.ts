/** `aso explain` promises the submitter's next step only while an agent is alive to take it. */
import { afterEach, describe, expect, it } from 'vitest'
import { explainTransfer } from '../../src/reports/explain.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { type LoopLab, makeLoopLab } from '../support/loop-lab.js'

describe('explain without a live agent', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  const why = async (id: string) => {
    const record = (await lab.store.get(id))!
    const now = lab.clock.now()
    return (await explainTransfer(lab.store, new SiteCatalog(lab.config), lab.config, record, now)).why
  }
  const beat = (at: number) =>
    lab.store.heartbeat({ id: 'a1', host: 'h', pid: 1, startedAt: at, heartbeatAt: at, loops: {} })

  it('says no agent is running instead of "the submitter takes it within"', async () => {
    lab = await makeLoopLab()
    const ids = await lab.inject(2)
    await lab.submitted({ limit: 1 })
    const states = await lab.states(ids)
    const inJob = ids[states.indexOf('SUBMITTED')]!
    const queued = ids[states.indexOf('NEW')]!
    expect(await why(queued)).toMatch(
      /^queued: link A->B has room \(1\/\d+\); no agent is running \(none has ever run\): nothing moves until one runs/,
    )
    expect(await why(inJob)).toMatch(/^in local job .*; no agent is running/)

    await beat(lab.clock.now())
    expect(await why(queued)).toMatch(/the submitter takes it within/)
    expect(await why(inJob)).not.toMatch(/no agent/)

    // a heartbeat older than the lease is a dead agent
    lab.clock.advance(lab.config.agent.lease + 1000)
    expect(await why(inJob)).toMatch(/no agent is running \(the last heartbeat was \d+s ago\)/)
  })
})
