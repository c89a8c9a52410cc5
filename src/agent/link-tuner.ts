import {
  type AdaptiveState,
  decideLimit,
  initialAdaptiveState,
  type LinkMeasurement,
} from '../domain/adaptive-limit.js'
import { IN_FLIGHT_STATES } from '../domain/states.js'
import { linkKey } from '../domain/transfer.js'
import type { ActivityCursor } from '../store/ops/link-limits.js'
import type { LoopContext } from './context.js'

type TunerStore = 'linkActivitySince' | 'tunedLinks' | 'linkSettings' | 'counts' | 'recordLinkTuning'

/** The controller's memory as stored, or a fresh one at `limit` when there is none (or it is unreadable). */
function restore(json: string | null, limit: number): AdaptiveState {
  if (json) {
    try {
      const s = JSON.parse(json) as AdaptiveState
      if (typeof s.limit === 'number') return { ...s, limit }
    } catch {
      // a state written by another version: start afresh at the stored limit
    }
  }
  return initialAdaptiveState(limit)
}

/**
 * The leader's loop for adaptive links (issue 18, docs/adaptive-links.md): each interval it reads what every
 * agent's copies did per link (the event log), asks the controller (domain/adaptive-limit.ts) for each link
 * whose aso.yaml says `adaptive: true` (never fts3 links) and that no operator pinned, and stores the limit:
 * the submitters of the whole fleet apply it through `linkSettings()`. Time is `ctx.now()` only (simulations
 * drive a virtual clock).
 */
export class LinkTuner {
  readonly name = 'link-tuner'
  private cursor: ActivityCursor | null = null
  private lastTick = 0

  constructor(private readonly ctx: LoopContext<TunerStore>) {}

  async run(): Promise<number> {
    const { store, sites } = this.ctx
    const now = this.ctx.now()
    const activity = await store.linkActivitySince(this.cursor)
    const first = this.cursor === null
    this.cursor = activity.cursor
    const intervalMs = now - this.lastTick
    this.lastTick = now
    // the first run only marks where measuring starts; an interval of no time measures nothing
    if (first || intervalMs <= 0) return 0

    const [counts, settings, tuned] = await Promise.all([
      store.counts(),
      store.linkSettings(),
      store.tunedLinks(),
    ])
    const load = new Map<string, { source: string; destination: string; active: number; queued: number }>()
    for (const c of counts) {
      const key = linkKey(c.source, c.destination)
      const l = load.get(key) ?? { source: c.source, destination: c.destination, active: 0, queued: 0 }
      if (c.state === 'NEW') l.queued += c.n
      else if (IN_FLIGHT_STATES.includes(c.state)) l.active += c.n
      load.set(key, l)
    }
    for (const key of activity.links.keys()) {
      if (load.has(key)) continue
      const [source, destination] = key.split('->') as [string, string]
      load.set(key, { source, destination, active: 0, queued: 0 })
    }
    const pinned = new Set(settings.filter((s) => s.maxActive !== null).map((s) => s.link))
    const stored = new Map(tuned.map((t) => [t.link, t]))

    let changed = 0
    for (const [key, l] of load) {
      const cfg = sites.link(l.source, l.destination)
      if (!cfg.adaptive || pinned.has(key)) continue
      const done = activity.links.get(key) ?? { doneFiles: 0, doneBytes: 0, transientFailures: 0 }
      if (l.active === 0 && l.queued === 0 && done.doneFiles === 0 && done.transientFailures === 0) continue
      const row = stored.get(key)
      const state = restore(row?.state ?? null, row?.adaptiveActive ?? cfg.startActive)
      const m: LinkMeasurement = { intervalMs, ...done, active: l.active, queued: l.queued }
      const { state: next, decision } = decideLimit(state, m, {
        minActive: cfg.minActive,
        maxActive: cfg.maxActive,
      })
      const change = decision.to !== decision.from
      await store.recordLinkTuning({
        link: key,
        limit: next.limit,
        state: JSON.stringify(next),
        now,
        decision: change
          ? {
              at: now,
              link: key,
              from: decision.from,
              to: decision.to,
              reason: decision.reason,
              measurements: decision.measurements,
            }
          : null,
      })
      if (change) {
        changed++
        this.ctx.log.info(
          { link: key, from: decision.from, to: decision.to, reason: decision.reason },
          'link limit changed',
        )
      }
    }
    // a raised limit may take files at once
    if (changed) this.ctx.wake('submitter')
    return 0
  }
}
