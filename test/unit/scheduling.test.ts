import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatDuration, parseDuration } from '../../src/domain/duration.js'
import { classify } from '../../src/domain/failures.js'
import { allocateFairShare, newFairShareState } from '../../src/domain/fair-share.js'
import { backoffDelay, decideAfterFailure } from '../../src/domain/retry-policy.js'

describe('fair share', () => {
  it('does not leave a user with one file behind one with 100,000', () => {
    const state = newFairShareState()
    const shares = allocateFairShare(
      10,
      [
        { key: 'big', user: 'big', waiting: 100_000 },
        { key: 'small', user: 'small', waiting: 1 },
      ],
      () => 1,
      state,
    )
    expect(shares.get('small')).toBe(1)
    expect(shares.get('big')).toBe(9)
  })

  it('shares by weight over time, and never more than capacity or demand', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({ waiting: fc.integer({ min: 0, max: 200 }), weight: fc.integer({ min: 1, max: 4 }) }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (capacity, qs) => {
          const demands = qs.map((q, i) => ({ key: `u${i}`, user: `u${i}`, waiting: q.waiting }))
          const shares = allocateFairShare(
            capacity,
            demands,
            (u) => qs[Number(u.slice(1))]!.weight,
            newFairShareState(),
          )
          const total = [...shares.values()].reduce((a, b) => a + b, 0)
          expect(total).toBeLessThanOrEqual(capacity)
          expect(total).toBe(
            Math.min(
              capacity,
              qs.reduce((a, q) => a + q.waiting, 0),
            ),
          )
          for (const d of demands) expect(shares.get(d.key) ?? 0).toBeLessThanOrEqual(d.waiting)
        },
      ),
    )
    // weight 3 against weight 1, one slot per cycle: 3:1 over many cycles
    const state = newFairShareState()
    const got = { a: 0, b: 0 }
    for (let i = 0; i < 400; i++) {
      const s = allocateFairShare(
        1,
        [
          { key: 'a', user: 'a', waiting: 1000 },
          { key: 'b', user: 'b', waiting: 1000 },
        ],
        (u) => (u === 'a' ? 3 : 1),
        state,
      )
      got.a += s.get('a') ?? 0
      got.b += s.get('b') ?? 0
    }
    expect(got.a / got.b).toBeCloseTo(3, 0)
  })
})

describe('retry policy', () => {
  const policy = { initialMs: 60_000, factor: 4, maxMs: 7_200_000, jitter: 0.2 }
  it('backs off exponentially with bounded jitter', () => {
    expect(backoffDelay(policy, 1, 0.5)).toBe(60_000)
    expect(backoffDelay(policy, 2, 0.5)).toBe(240_000)
    expect(backoffDelay(policy, 10, 0.5)).toBe(7_200_000)
    expect(backoffDelay(policy, 1, 0)).toBe(48_000)
    expect(backoffDelay(policy, 1, 0.999_999)).toBeCloseTo(72_000, -1)
  })

  it('decides from the class: retry, fail, requeue, hold', () => {
    const d = (reason: string, attempt = 1) =>
      decideAfterFailure(classify(reason), attempt, 3, 0, policy, 0.5).kind
    expect(d('TRANSFER [110] Operation timed out')).toBe('retry')
    expect(d('TRANSFER [110] Operation timed out', 3)).toBe('fail')
    expect(d('SOURCE [2] No such file or directory')).toBe('fail')
    expect(
      d('Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)'),
    ).toBe('requeue')
    expect(d('DESTINATION [28] Disk quota exceeded')).toBe('hold')
    expect(d('TRANSFER [1] globus_gass_copy_register_url_to_url transfer failed: proxy expired')).toBe('hold')
    expect(d('Job canceled by the user')).toBe('killed')
  })
})

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('30s')).toBe(30_000)
    expect(parseDuration('14d')).toBe(14 * 86_400_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration(2)).toBe(2000)
    expect(() => parseDuration('5 minutes')).toThrow(/write e\.g\. 30s/)
    expect(formatDuration(125_000)).toBe('2m5s')
    expect(formatDuration(90_000_000)).toBe('1d1h')
  })
})
