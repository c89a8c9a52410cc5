import type { Classification } from './failures.js'

/** Exponential backoff with jitter, as configured under `retry.backoff`. */
export interface BackoffPolicy {
  initialMs: number
  factor: number
  maxMs: number
  /** relative spread: 0.2 means ±20 % */
  jitter: number
}

/** Delay before the attempt that follows `failedAttempt` (1-based). `random` in [0, 1). */
export function backoffDelay(
  policy: BackoffPolicy,
  failedAttempt: number,
  random: number = Math.random(),
): number {
  const exp = Math.max(0, failedAttempt - 1)
  const base = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exp)
  const spread = base * policy.jitter * (2 * random - 1)
  return Math.max(0, Math.round(Math.min(policy.maxMs * (1 + policy.jitter), base + spread)))
}

/** What happens to a record after its engine reported a failure. */
export type FailureDecision =
  | { kind: 'retry'; nextAttemptAt: number }
  | { kind: 'fail' }
  /** back to NEW without charging an attempt (our fault: queue timeout) */
  | { kind: 'requeue' }
  /** back to NEW, held: nothing for this user (and site) is submitted until the hold is lifted */
  | { kind: 'hold'; scope: 'user' | 'user-site' }
  | { kind: 'killed' }

/** Decides the next step after a failed attempt, from its classification and the attempts used. */
export function decideAfterFailure(
  c: Classification,
  attempt: number,
  maxAttempts: number,
  now: number,
  policy: BackoffPolicy,
  random?: number,
): FailureDecision {
  switch (c.class) {
    case 'killed':
      return { kind: 'killed' }
    case 'queue-timeout':
      return { kind: 'requeue' }
    case 'quota':
      return { kind: 'hold', scope: 'user-site' }
    case 'credential':
      return { kind: 'hold', scope: 'user' }
    default:
      if (c.retry && attempt < maxAttempts) {
        return { kind: 'retry', nextAttemptAt: now + backoffDelay(policy, attempt, random) }
      }
      return { kind: 'fail' }
  }
}
