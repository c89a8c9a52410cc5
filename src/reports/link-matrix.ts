/** The dashboard's links: limits and settings, files in flight and waiting, and the last hour of each link. */
import type { DashboardLinksResponse } from '../contract/dashboard.js'
import { type FailureClass, hintFor } from '../domain/failures.js'
import { IN_FLIGHT_STATES, type TransferState } from '../domain/states.js'
import { linkKey } from '../domain/transfer.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { Store } from '../store/store.js'
import { adaptiveView, effectiveLink, RECENT_DECISIONS } from './link-limits.js'
import { lastBuckets, MINUTE_MS, successRate } from './overview.js'

type Link = DashboardLinksResponse['links'][number]

/** The most frequent failure class of a link's failures (ties: the class named first). */
function topClass(classes: Map<string, number>): Link['topFailureClass'] {
  let best: [string, number] | null = null
  for (const [c, n] of classes) if (best === null || n > best[1]) best = [c, n]
  if (best === null) return null
  const cls = best[0] as FailureClass
  return { class: cls, files: best[1], hint: hintFor(cls) }
}

/**
 * Every link with files or an operator setting. `active` counts all users' files (the limit is shared); the
 * other numbers are in `user`'s scope.
 */
export async function linkMatrixReport(
  store: Store,
  sites: SiteCatalog,
  user: string | undefined,
  now: number,
): Promise<DashboardLinksResponse> {
  const [all, settings, decisions, finished] = await Promise.all([
    store.counts(),
    store.linkSettings(),
    store.linkDecisions(null, RECENT_DECISIONS),
    store.finishedByLink({
      span: 'minute',
      ...lastBuckets(now, MINUTE_MS, 60),
      ...(user !== undefined ? { user } : {}),
    }),
  ])
  interface Acc {
    source: string
    destination: string
    active: number
    states: Partial<Record<TransferState, number>>
    done: number
    failed: number
    killed: number
    bytes: number
    classes: Map<string, number>
  }
  const links = new Map<string, Acc>()
  const acc = (source: string, destination: string): Acc => {
    const key = linkKey(source, destination)
    let a = links.get(key)
    if (!a) {
      a = {
        source,
        destination,
        active: 0,
        states: {},
        done: 0,
        failed: 0,
        killed: 0,
        bytes: 0,
        classes: new Map(),
      }
      links.set(key, a)
    }
    return a
  }
  for (const r of all) {
    const a = acc(r.source, r.destination)
    if (IN_FLIGHT_STATES.includes(r.state)) a.active += r.n
    if (user === undefined || r.user === user) a.states[r.state] = (a.states[r.state] ?? 0) + r.n
  }
  for (const s of settings) {
    const [source, destination] = s.link.split('->')
    if (source && destination) acc(source, destination)
  }
  for (const f of finished) {
    const a = acc(f.source, f.destination)
    if (f.state === 'DONE') {
      a.done += f.files
      a.bytes += f.bytes
    } else if (f.state === 'FAILED') a.failed += f.files
    else if (f.state === 'KILLED') a.killed += f.files
    if (f.state === 'FAILED' && f.failureClass) {
      a.classes.set(f.failureClass, (a.classes.get(f.failureClass) ?? 0) + f.files)
    }
  }
  const sorted = [...links.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return {
    scope: { user: user ?? null },
    sources: [...new Set(sorted.map(([, a]) => a.source))].sort(),
    destinations: [...new Set(sorted.map(([, a]) => a.destination))].sort(),
    links: sorted.map(([link, a]) => {
      const cfg = effectiveLink(sites, settings, a.source, a.destination)
      return {
        link,
        source: a.source,
        destination: a.destination,
        maxActive: cfg.maxActive,
        paused: cfg.paused,
        engine: cfg.engine,
        adaptive: adaptiveView(sites, settings, decisions, a.source, a.destination),
        active: a.active,
        queued: a.states.NEW ?? 0,
        states: a.states,
        lastHour: {
          done: a.done,
          failed: a.failed,
          killed: a.killed,
          bytes: a.bytes,
          throughput: a.bytes / 3600,
          successRate: successRate(a.done, a.failed),
        },
        topFailureClass: topClass(a.classes),
      }
    }),
  }
}
