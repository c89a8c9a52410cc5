/**
 * The credential watcher alone: a user's credential hold is lifted (and the submitter woken) once every engine
 * that acts with users' own credentials finds theirs valid and newer than the hold; not while one still
 * finds a problem, nor for the same old file; other holds are none of its business.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { CredentialWatcher } from '../../../src/agent/credential-watcher.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'
import { type CredentialState, ScriptedEngine } from '../../support/scripted-engine.js'

describe('credential watcher', () => {
  let lab: LoopLab
  afterEach(async () => {
    await lab?.close()
  })

  /** Holds alice (credential, every site) and bob (quota at B) from now. */
  async function holdAliceAndBob(): Promise<number> {
    const since = lab.clock.now()
    const until = since + lab.config.holds.quotaRecheck
    await lab.store.addHold(
      { user: 'alice', site: '*', class: 'credential', reason: 'proxy expired', since, until },
      'test',
    )
    await lab.store.addHold({ user: 'bob', site: 'B', class: 'quota', reason: 'quota', since, until }, 'test')
    return since
  }

  const heldUsers = async () => (await lab.store.activeHolds(lab.clock.now())).map((h) => h.user).sort()

  it('lifts a credential hold once a valid credential newer than the hold arrives, and wakes the submitter', async () => {
    const state: CredentialState = { problem: 'proxy expired', changedAt: null }
    lab = await makeLoopLab({ engine: { credentialStatus: () => state } })
    const since = await holdAliceAndBob()
    const watcher = new CredentialWatcher(lab.ctx)

    await watcher.run()
    expect(await heldUsers()).toEqual(['alice', 'bob'])
    // only the credential hold's user is asked about
    expect(lab.engine.calls).toEqual([{ op: 'credentialStatus', user: 'alice' }])

    // valid, but the file the hold already saw
    state.problem = null
    state.changedAt = since
    await watcher.run()
    expect(await heldUsers()).toEqual(['alice', 'bob'])
    expect(lab.wakes).toEqual([])

    lab.clock.advance(1000)
    state.changedAt = lab.clock.now()
    await watcher.run()
    expect(await heldUsers()).toEqual(['bob'])
    expect(lab.wakes).toEqual(['submitter'])
  })

  it('keeps the hold while one of two engines still finds a problem', async () => {
    // the lab's engine finds a credential written just now
    lab = await makeLoopLab({
      engine: { credentialStatus: () => ({ problem: null, changedAt: lab.clock.now() }) },
    })
    const other = new ScriptedEngine({
      name: 'fts3',
      jobsOutliveAgent: true,
      credentialStatus: () => ({ problem: 'no token', changedAt: null }),
    })
    lab.ctx.engines.set(other.name, other)
    await holdAliceAndBob()
    lab.clock.advance(1000)
    const watcher = new CredentialWatcher(lab.ctx)
    await watcher.run()
    expect(await heldUsers()).toEqual(['alice', 'bob'])
    expect(other.calls).toEqual([{ op: 'credentialStatus', user: 'alice' }])

    other.script.credentialStatus.push(() => ({ problem: null, changedAt: lab.clock.now() }))
    await watcher.run()
    expect(await heldUsers()).toEqual(['bob'])
    expect(lab.wakes).toEqual(['submitter'])
  })

  it("leaves holds alone when no engine acts with users' own credentials", async () => {
    lab = await makeLoopLab()
    await holdAliceAndBob()
    expect(await new CredentialWatcher(lab.ctx).run()).toBe(0)
    expect(await heldUsers()).toEqual(['alice', 'bob'])
    expect(lab.engine.calls).toEqual([])
    expect(lab.wakes).toEqual([])
  })
})
