/**
 * The adaptive per-link limit (issue 18): a hill climber on a link's measured throughput. Pure: the leader's
 * link tuner feeds it one interval's measurements and stores the state and decision it returns.
 *
 * - Raise while throughput grows: a probe upward is kept only if the bytes/s grew by a share of the step.
 * - A probe that did not pay (flat or worse) steps back and leaves a ceiling; probes stay under it for a
 *   while that doubles with each failed probe, so a link at its best limit changes ever more rarely.
 * - Back off by a factor on a burst of transient failures, and one step when throughput falls at the same limit
 *   for two intervals.
 * - Hysteresis: the interval right after a change is not judged (it mixes both limits), small moves are inside
 *   a dead band, and a link without a backlog (it did not use its limit) is left alone.
 */

/** What the link did over one interval, fleet-wide. */
export interface LinkMeasurement {
  /** ms the interval covered */
  intervalMs: number
  doneFiles: number
  doneBytes: number
  /** copies that ended in a transient failure (retried or failed for good) */
  transientFailures: number
  /** files on the link in an engine at the end of the interval */
  active: number
  /** files waiting for the link (NEW) at the end of the interval */
  queued: number
}

export interface AdaptiveBounds {
  minActive: number
  maxActive: number
}

export interface AdaptiveState {
  limit: number
  /** bytes/s measured at `limit`, smoothed; null until an interval at this limit was judged */
  reference: number | null
  /** the limit before the last change and the bytes/s it gave, to compare a probe with and step back to */
  previous: { limit: number; throughput: number } | null
  lastMove: 'up' | 'down' | 'none'
  /** intervals still to skip after a change */
  settle: number
  /** intervals judged at this limit without a change */
  held: number
  /** intervals in a row with throughput below the dead band */
  below: number
  /** a limit that did not pay: probes stay below it; when `ceilingTtl` runs out it moves up by one */
  ceiling: number | null
  ceilingTtl: number
  /** probes in a row that did not pay (the ceiling's lifetime doubles with each) */
  failedProbes: number
  /** intervals with too few copies to judge, added up until there are enough (absent: none) */
  pending?: Omit<LinkMeasurement, 'active' | 'queued'>
}

export interface AdaptiveDecision {
  action: 'raise' | 'lower' | 'hold'
  from: number
  to: number
  reason: string
  /** the figures the decision was made on */
  measurements: { throughput: number; doneFiles: number; transientFailures: number; failureRate: number }
}

export interface AdaptiveTuning {
  /** copies that must have ended before an interval is judged (fewer: added to the next interval's) */
  minSamples: number
  /** intervals held at a limit before probing above it */
  probeAfter: number
  /** a probe is kept when bytes/s grew by at least this share of the step's relative size ... */
  gainShare: number
  /** ... and at least this much (noise) */
  minGain: number
  /** throughput below reference × (1 - dropBand) for two intervals at one limit: one step down */
  dropBand: number
  /** a burst: at least `burstFailures` transient failures and `burstRate` of the copies that ended */
  burstFailures: number
  burstRate: number
  /** the limit × this on a burst */
  backoffFactor: number
  /** largest step up, in copies */
  maxStep: number
  /** intervals a first ceiling lasts (doubled per failed probe, up to `maxCeilingTtl`) */
  ceilingTtl: number
  maxCeilingTtl: number
}

export const DEFAULT_TUNING: AdaptiveTuning = {
  minSamples: 12,
  probeAfter: 3,
  gainShare: 0.4,
  minGain: 0.03,
  dropBand: 0.25,
  burstFailures: 3,
  burstRate: 0.2,
  backoffFactor: 0.7,
  maxStep: 10,
  ceilingTtl: 8,
  maxCeilingTtl: 128,
}

const clamp = (n: number, b: AdaptiveBounds) => Math.min(b.maxActive, Math.max(b.minActive, Math.round(n)))

/** The state of a link the tuner has not seen yet, at `limit` (its startActive or its stored limit). */
export function initialAdaptiveState(limit: number): AdaptiveState {
  return {
    limit,
    reference: null,
    previous: null,
    lastMove: 'none',
    settle: 0,
    held: 0,
    below: 0,
    ceiling: null,
    ceilingTtl: 0,
    failedProbes: 0,
  }
}

function rate(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB/s`
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB/s`
  return `${n.toFixed(0)} B/s`
}

/** The next state and the decision for one interval's measurements. */
export function decideLimit(
  state: AdaptiveState,
  interval: LinkMeasurement,
  bounds: AdaptiveBounds,
  tuning: AdaptiveTuning = DEFAULT_TUNING,
): { state: AdaptiveState; decision: AdaptiveDecision } {
  // a slow link's interval holds a handful of copies: too few to tell a trend from noise, so add them up
  const p = state.pending
  const m: LinkMeasurement = p
    ? {
        ...interval,
        intervalMs: p.intervalMs + interval.intervalMs,
        doneFiles: p.doneFiles + interval.doneFiles,
        doneBytes: p.doneBytes + interval.doneBytes,
        transientFailures: p.transientFailures + interval.transientFailures,
      }
    : interval
  const throughput = m.intervalMs > 0 ? m.doneBytes / (m.intervalMs / 1000) : 0
  const ended = m.doneFiles + m.transientFailures
  const failureRate = ended > 0 ? m.transientFailures / ended : 0
  const measurements = {
    throughput: Math.round(throughput),
    doneFiles: m.doneFiles,
    transientFailures: m.transientFailures,
    failureRate: Math.round(failureRate * 1000) / 1000,
  }
  const { pending: _pending, ...rest } = state
  const s: AdaptiveState = rest
  const from = state.limit
  const hold = (reason: string) => ({
    state: s,
    decision: { action: 'hold' as const, from, to: from, reason, measurements },
  })
  const move = (to: number, reason: string) => {
    const up = to > from
    s.previous = { limit: from, throughput: s.reference ?? throughput }
    s.limit = to
    s.lastMove = up ? 'up' : 'down'
    s.reference = null
    s.settle = 1
    s.held = 0
    s.below = 0
    return {
      state: s,
      decision: { action: up ? ('raise' as const) : ('lower' as const), from, to, reason, measurements },
    }
  }
  // an expired ceiling moves up by one: the next probe tries the old ceiling again rather than searching anew
  const tickCeiling = () => {
    if (s.ceiling !== null && s.ceilingTtl > 0 && --s.ceilingTtl === 0) s.ceiling += 1
  }
  const setCeiling = (at: number) => {
    s.failedProbes += 1
    s.ceiling = at
    s.ceilingTtl = Math.min(tuning.maxCeilingTtl, tuning.ceilingTtl * 2 ** (s.failedProbes - 1))
  }
  /** the next probe above the limit, under the ceiling: null when there is no room */
  const probeTarget = (): number | null => {
    if (s.ceiling !== null && s.ceiling <= s.limit) s.ceiling = null
    const top = Math.min(bounds.maxActive, (s.ceiling ?? Number.POSITIVE_INFINITY) - 1)
    if (s.limit >= top) return null
    let step = Math.min(tuning.maxStep, Math.max(1, Math.ceil(s.limit / 4)))
    if (s.ceiling !== null) step = Math.min(step, Math.max(1, Math.ceil((s.ceiling - s.limit) / 2)))
    return Math.min(top, s.limit + step)
  }

  // aso.yaml's bounds may have changed since the limit was set
  if (from < bounds.minActive || from > bounds.maxActive) {
    const to = clamp(from, bounds)
    return move(
      to,
      `limit ${from} outside aso.yaml's minActive..maxActive ${bounds.minActive}..${bounds.maxActive}`,
    )
  }

  // a burst of transient failures backs off at once, settled or not
  if (
    m.transientFailures >= tuning.burstFailures &&
    failureRate >= tuning.burstRate &&
    from > bounds.minActive
  ) {
    const to = clamp(Math.min(from - 1, Math.floor(from * tuning.backoffFactor)), bounds)
    setCeiling(from)
    return move(
      to,
      `${m.transientFailures} transient failures, ${(failureRate * 100).toFixed(0)}% of the copies that ended: backing off`,
    )
  }

  if (s.settle > 0) {
    s.settle -= 1
    return hold('settling: the interval after a change mixes both limits')
  }

  if (m.queued === 0 && m.active < from) {
    tickCeiling()
    return hold(`no backlog (${m.active} active, none queued): the limit is not what holds the link back`)
  }

  if (m.doneFiles + m.transientFailures < tuning.minSamples) {
    s.pending = {
      intervalMs: m.intervalMs,
      doneFiles: m.doneFiles,
      doneBytes: m.doneBytes,
      transientFailures: m.transientFailures,
    }
    return hold(`${ended} copies ended so far: waiting for ${tuning.minSamples} to judge`)
  }

  if (s.reference === null) {
    s.reference = throughput
    if (s.lastMove === 'up' && s.previous) {
      const before = s.previous.throughput
      const stepShare = (from - s.previous.limit) / s.previous.limit
      const needed = Math.max(tuning.minGain, tuning.gainShare * stepShare)
      if (before > 0 && throughput < before * (1 + needed)) {
        setCeiling(from)
        const back = s.previous.limit
        return move(
          back,
          `raising to ${from} did not pay (${rate(before)} -> ${rate(throughput)}, needed +${(needed * 100).toFixed(0)}%): back to ${back}`,
        )
      }
      s.failedProbes = 0
      const next = probeTarget()
      if (next !== null)
        return move(next, `throughput grew ${rate(before)} -> ${rate(throughput)} at ${from}: raising`)
      return hold(`throughput grew to ${rate(throughput)} at ${from}; no room above (ceiling or maxActive)`)
    }
    if (s.lastMove === 'none') {
      const next = probeTarget()
      if (next !== null) return move(next, `first measurement ${rate(throughput)} at ${from}: probing higher`)
    }
    return hold(`${rate(throughput)} at ${from}`)
  }

  tickCeiling()
  if (throughput < s.reference * (1 - tuning.dropBand)) {
    s.below += 1
    if (s.below >= 2 && from > bounds.minActive) {
      const to = clamp(from - Math.max(1, Math.ceil(from / 8)), bounds)
      return move(
        to,
        `throughput fell ${rate(s.reference)} -> ${rate(throughput)} at the same limit: stepping down`,
      )
    }
    return hold(`throughput below the usual ${rate(s.reference)} (${rate(throughput)}): watching`)
  }
  s.below = 0
  s.reference = (s.reference + throughput) / 2
  s.held += 1
  if (s.held >= tuning.probeAfter) {
    const next = probeTarget()
    if (next !== null)
      return move(next, `steady ${rate(s.reference)} at ${from} for ${s.held} intervals: probing higher`)
  }
  return hold(`steady ${rate(s.reference)} at ${from}`)
}
