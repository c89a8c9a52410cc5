import type { Cause } from './network.js'
import { CAUSES } from './network.js'

/** Nearest-rank percentile of sorted values (p in [0, 100]); NaN for none. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const rank = Math.ceil((p / 100) * n)
  return sorted[Math.min(n - 1, Math.max(0, rank - 1))]!
}

/** Jain's fairness index (Σx)² / (n Σx²): 1 when all equal, 1/n when one takes everything. */
export function jain(xs: readonly number[]): number {
  let sum = 0
  let sq = 0
  for (const x of xs) {
    sum += x
    sq += x * x
  }
  if (xs.length === 0 || sq === 0) return Number.NaN
  return (sum * sum) / (xs.length * sq)
}

interface Backlog {
  user: string
  link: string
  pending: number
  /** waited through the whole interval so far */
  throughout: boolean
  delivered: number
}

/**
 * Fairness the way weighted fair share promises it: in each interval, among the users whose files waited on
 * a link for the whole interval (a user whose backlog emptied got all they asked for and is left out), the
 * bytes delivered per weight should be equal. Jain's index per (interval, link) with two or more such
 * users, averaged weighted by those users.
 */
export class FairnessTracker {
  private readonly backlog = new Map<string, Backlog>()
  private sum = 0
  private weightSum = 0
  intervals = 0

  constructor(private readonly weightOf: (user: string) => number) {}

  private entry(user: string, link: string): Backlog {
    const k = `${user}\0${link}`
    let b = this.backlog.get(k)
    if (!b) {
      // it starts waiting now: it was not waiting at the interval's start
      b = { user, link, pending: 0, throughout: false, delivered: 0 }
      this.backlog.set(k, b)
    }
    return b
  }

  added(user: string, link: string, n: number): void {
    this.entry(user, link).pending += n
  }

  ended(user: string, link: string, deliveredBytes: number): void {
    const b = this.entry(user, link)
    b.pending--
    b.delivered += deliveredBytes
    if (b.pending <= 0) b.throughout = false
  }

  /** Closes an interval: scores it and starts the next with who is waiting now. */
  closeInterval(): void {
    const byLink = new Map<string, number[]>()
    for (const b of this.backlog.values()) {
      if (b.throughout) {
        const xs = byLink.get(b.link) ?? []
        xs.push(b.delivered / this.weightOf(b.user))
        byLink.set(b.link, xs)
      }
    }
    for (const xs of byLink.values()) {
      if (xs.length < 2) continue
      const j = jain(xs)
      if (Number.isNaN(j)) continue
      this.sum += j * xs.length
      this.weightSum += xs.length
    }
    this.intervals++
    for (const [k, b] of this.backlog) {
      if (b.pending <= 0) this.backlog.delete(k)
      else {
        b.throughout = true
        b.delivered = 0
      }
    }
  }

  /** The mean index; 1 when no interval had two users competing on a link. */
  index(): number {
    return this.weightSum === 0 ? 1 : this.sum / this.weightSum
  }
}

/** What the report says about one policy. */
export interface PolicyResult {
  policy: string
  description: string
  files: number
  terminal: number
  delivered: { files: number; bytes: number }
  failed: { files: number; byClass: Record<Cause | 'other', number> }
  latencySeconds: { p50: number; p95: number; p99: number; mean: number }
  fairness: number
  linkUtilisation: { mean: number; p95: number; links: number }
  /** CPU-hours jobs spent waiting for their own copies (synchronous stage-out only) */
  cpuHoursLost: number | null
  copiesStarted: number
  /** virtual hours from the first inject to the last file terminal */
  virtualHours: number
  wallSeconds: number
  /** delivered bytes per hour of the run, for the charts */
  hourly: { hour: number; deliveredBytes: number; doneFiles: number; failedFiles: number }[]
}

/** Streaming tallies of one policy's run: what ended, when, and why. */
export class Tally {
  private latencies: number[] = []
  deliveredFiles = 0
  deliveredBytes = 0
  failedFiles = 0
  readonly byClass: Record<Cause | 'other', number> = Object.fromEntries(
    [...CAUSES, 'other'].map((c) => [c, 0]),
  ) as Record<Cause | 'other', number>
  private readonly lastCause = new Map<string, Cause>()
  readonly hourly: PolicyResult['hourly'] = []

  constructor(private readonly start: number) {}

  failure(id: string, cause: Cause): void {
    this.lastCause.set(id, cause)
  }

  private hour(at: number) {
    const h = Math.max(0, Math.floor((at - this.start) / 3_600_000))
    while (this.hourly.length <= h)
      this.hourly.push({ hour: this.hourly.length, deliveredBytes: 0, doneFiles: 0, failedFiles: 0 })
    return this.hourly[h]!
  }

  done(id: string, bytes: number, latencyMs: number, at: number): void {
    this.deliveredFiles++
    this.deliveredBytes += bytes
    this.latencies.push(latencyMs / 1000)
    this.lastCause.delete(id)
    const h = this.hour(at)
    h.deliveredBytes += bytes
    h.doneFiles++
  }

  failed(id: string, at: number): void {
    this.failedFiles++
    const c = this.lastCause.get(id)
    this.lastCause.delete(id)
    this.byClass[c ?? 'other']++
    this.hour(at).failedFiles++
  }

  latency(): PolicyResult['latencySeconds'] {
    const s = Float64Array.from(this.latencies).sort()
    const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN
    return { p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), mean }
  }
}

/** Utilisation of the links used: bytes moved over what the link could move in the run's span. */
export function utilisation(
  links: readonly { moved: number; capacity: number }[],
  spanMs: number,
): PolicyResult['linkUtilisation'] {
  const us = links
    .filter((l) => l.moved > 0)
    .map((l) => Math.min(1, l.moved / (l.capacity * Math.max(1, spanMs / 1000))))
    .sort((a, b) => a - b)
  const mean = us.length ? us.reduce((a, b) => a + b, 0) / us.length : 0
  return { mean, p95: us.length ? percentile(us, 95) : 0, links: us.length }
}
