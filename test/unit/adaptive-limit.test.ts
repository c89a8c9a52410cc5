import { describe, expect, it } from 'vitest'
import {
  type AdaptiveBounds,
  type AdaptiveState,
  decideLimit,
  initialAdaptiveState,
  type LinkMeasurement,
} from '../../src/domain/adaptive-limit.js'
import {
  type LinkModel,
  linkInterval,
  linkThroughput,
  transientFailureRate,
} from '../../src/sim/link-model.js'
import { rng } from '../../src/sim/random.js'

const MiB = 1024 * 1024
const INTERVAL_MS = 60_000

/** One interval on the model at `limit` with a full backlog, ±`noise` on the bytes. */
function measure(model: LinkModel, limit: number, random: () => number, noise: number): LinkMeasurement {
  const r = linkInterval(model, limit, INTERVAL_MS / 1000)
  const jitter = 1 + (random() * 2 - 1) * noise
  return {
    intervalMs: INTERVAL_MS,
    doneFiles: Math.round(r.doneFiles * jitter),
    doneBytes: r.doneBytes * jitter,
    transientFailures: Math.round(r.transientFailures),
    active: limit,
    queued: 1000,
  }
}

/** The controller on a link for `intervals` intervals: limits chosen, changes, bytes/s of the second half. */
function run(model: LinkModel, bounds: AdaptiveBounds, start: number, intervals: number, seed: number) {
  const random = rng(seed)
  let state: AdaptiveState = initialAdaptiveState(start)
  const limits: number[] = []
  const reasons: string[] = []
  let changes = 0
  let lateBytes = 0
  for (let i = 0; i < intervals; i++) {
    const m = measure(model, state.limit, random, 0.03)
    if (i >= intervals / 2) lateBytes += m.doneBytes
    const { state: next, decision } = decideLimit(state, m, bounds)
    if (decision.to !== decision.from) {
      changes++
      reasons.push(`${decision.from}->${decision.to}: ${decision.reason}`)
    }
    expect(decision.to).toBe(next.limit)
    state = next
    limits.push(state.limit)
  }
  return { limits, changes, reasons, lateThroughput: lateBytes / ((intervals / 2) * (INTERVAL_MS / 1000)) }
}

/** The best fixed limit in bounds, by sweeping: what an operator who knew the link would have set. */
function bestFixed(model: LinkModel, bounds: AdaptiveBounds) {
  let best = { limit: bounds.minActive, throughput: 0 }
  for (let l = bounds.minActive; l <= bounds.maxActive; l++) {
    const t = linkThroughput(model, l)
    if (t > best.throughput) best = { limit: l, throughput: t }
  }
  return best
}

describe('link model', () => {
  const model: LinkModel = { streams: 10, streamRate: 10 * MiB, latencyMs: 2000 }

  it('grows with streams up to capacity, then falls, with transient failures rising past it', () => {
    expect(linkThroughput(model, 5)).toBeLessThan(linkThroughput(model, 10))
    expect(linkThroughput(model, 20)).toBeLessThan(linkThroughput(model, 10))
    expect(transientFailureRate(model, 10)).toBe(0)
    expect(transientFailureRate(model, 20)).toBeCloseTo(0.5)
    expect(transientFailureRate(model, 1000)).toBe(0.9)
  })

  it('refuses a model without capacity', () => {
    expect(() => linkThroughput({ streams: 0, streamRate: 1 }, 1)).toThrow(/streams > 0/)
  })
})

describe('adaptive link limit on simulated links', () => {
  const bounds = { minActive: 1, maxActive: 60 }
  const links: [string, LinkModel][] = [
    ['a narrow link (8 streams)', { streams: 8, streamRate: 12 * MiB, latencyMs: 1500 }],
    ['a wide link (40 streams)', { streams: 40, streamRate: 5 * MiB, latencyMs: 3000 }],
  ]

  for (const [name, model] of links) {
    it(`converges within 20% of the best fixed limit on ${name}, with few changes`, () => {
      const best = bestFixed(model, bounds)
      const r = run(model, bounds, 4, 240, 18)
      expect(r.lateThroughput, r.reasons.join('\n')).toBeGreaterThanOrEqual(0.8 * best.throughput)
      // four hours of one-minute intervals: a climb of a dozen steps and rare probes, not a change per interval
      expect(r.changes, r.reasons.join('\n')).toBeLessThanOrEqual(30)
      // it ends near the link's capacity, not at the ceiling of the bounds
      const last = r.limits.slice(-60)
      expect(Math.max(...last)).toBeLessThanOrEqual(Math.ceil(best.limit * 1.3))
      expect(Math.min(...last)).toBeGreaterThanOrEqual(Math.floor(best.limit * 0.7))
    })
  }

  it('is deterministic: the same measurements give the same decisions', () => {
    const [, model] = links[0]!
    expect(run(model, bounds, 4, 120, 7).limits).toEqual(run(model, bounds, 4, 120, 7).limits)
  })

  it('changes more rarely as time goes on (hysteresis: failed probes wait longer each time)', () => {
    const [, model] = links[0]!
    const r = run(model, bounds, 4, 480, 3)
    const changesIn = (from: number, to: number) =>
      r.limits.slice(from, to).filter((l, i, a) => i > 0 && l !== a[i - 1]).length
    expect(changesIn(240, 480)).toBeLessThanOrEqual(changesIn(0, 240))
    expect(changesIn(240, 480)).toBeLessThanOrEqual(8)
  })
})

describe('adaptive link limit decisions', () => {
  const bounds = { minActive: 2, maxActive: 50 }
  const m = (over: Partial<LinkMeasurement>): LinkMeasurement => ({
    intervalMs: INTERVAL_MS,
    doneFiles: 100,
    doneBytes: 100 * 60 * MiB,
    transientFailures: 0,
    active: 20,
    queued: 500,
    ...over,
  })

  it('backs off on a burst of transient failures, whatever it was doing', () => {
    const s = { ...initialAdaptiveState(20), settle: 1 }
    const { state, decision } = decideLimit(s, m({ transientFailures: 40 }), bounds)
    expect(decision.action).toBe('lower')
    expect(state.limit).toBe(14)
    expect(decision.reason).toMatch(/40 transient failures, 29% .*backing off/)
    expect(decision.measurements.transientFailures).toBe(40)
    // and does not probe back above the failing limit soon
    expect(state.ceiling).toBe(20)
  })

  it('ignores a few failures among many copies', () => {
    const s = { ...initialAdaptiveState(20), reference: 100 * MiB, lastMove: 'up' as const }
    expect(decideLimit(s, m({ transientFailures: 2 }), bounds).decision.action).toBe('hold')
  })

  it('leaves a link without a backlog alone', () => {
    const s = { ...initialAdaptiveState(20), reference: 100 * MiB, held: 10 }
    const { decision } = decideLimit(s, m({ active: 3, queued: 0 }), bounds)
    expect(decision).toMatchObject({ action: 'hold', to: 20 })
    expect(decision.reason).toMatch(/no backlog/)
  })

  it('steps down when throughput falls at the same limit for two intervals, not one', () => {
    let s: AdaptiveState = { ...initialAdaptiveState(20), reference: 100 * MiB, lastMove: 'up' }
    const low = m({ doneBytes: 30 * 60 * MiB })
    const first = decideLimit(s, low, bounds)
    expect(first.decision.action).toBe('hold')
    s = first.state
    const second = decideLimit(s, low, bounds)
    expect(second.decision).toMatchObject({ action: 'lower', to: 17 })
  })

  it('adds up intervals with too few copies until there are enough to judge', () => {
    const few = m({ doneFiles: 5, doneBytes: 5 * MiB })
    const first = decideLimit(initialAdaptiveState(20), few, bounds)
    expect(first.decision).toMatchObject({ action: 'hold' })
    expect(first.decision.reason).toMatch(/5 copies ended so far: waiting for 12/)
    const second = decideLimit(first.state, few, bounds)
    expect(second.decision.reason).toMatch(/10 copies ended so far/)
    const third = decideLimit(second.state, few, bounds)
    // 15 copies over three minutes: judged as one interval
    expect(third.decision).toMatchObject({ action: 'raise', from: 20, to: 25 })
    expect(third.decision.measurements).toMatchObject({
      doneFiles: 15,
      throughput: Math.round((15 * MiB) / 180),
    })
    expect(third.state.pending).toBeUndefined()
  })

  it('brings a limit outside changed bounds back inside them', () => {
    const { decision } = decideLimit(initialAdaptiveState(80), m({}), bounds)
    expect(decision).toMatchObject({ action: 'lower', to: 50 })
    expect(decision.reason).toMatch(/outside aso.yaml's minActive..maxActive 2..50/)
  })

  it('never leaves the bounds', () => {
    let s = initialAdaptiveState(2)
    for (let i = 0; i < 200; i++) {
      s = decideLimit(
        s,
        m({ doneBytes: (i + 1) * 60 * MiB, transientFailures: i % 17 === 0 ? 50 : 0 }),
        bounds,
      ).state
      expect(s.limit).toBeGreaterThanOrEqual(2)
      expect(s.limit).toBeLessThanOrEqual(50)
    }
  })
})
