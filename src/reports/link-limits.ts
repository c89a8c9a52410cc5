import type { LinkAdaptive } from '../contract/link-limits.js'
import { adaptiveLimit, effectiveLinkLimit } from '../domain/link-limit.js'
import { linkKey } from '../domain/transfer.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { LinkDecisionRecord } from '../store/ops/link-limits.js'
import type { LinkSetting } from '../store/ops/link-settings.js'
import type { Store } from '../store/store.js'

/** Decisions each link's view carries. */
export const DECISIONS_SHOWN = 5
/** Decisions of all links read for a list of links: the newest, enough for each busy link's last few. */
export const RECENT_DECISIONS = 500

/** A link's configuration with its effective limit and pause state (the rule: domain/link-limit.ts). */
export function effectiveLink(
  sites: SiteCatalog,
  settings: readonly LinkSetting[],
  source: string,
  destination: string,
) {
  const key = linkKey(source, destination)
  return effectiveLinkLimit(
    sites.link(source, destination),
    settings.find((s) => s.link === key),
  )
}

/** The adaptive part of a link's view: null for a fixed link. `decisions` are the link's, newest first. */
export function adaptiveView(
  sites: SiteCatalog,
  settings: readonly LinkSetting[],
  decisions: readonly LinkDecisionRecord[],
  source: string,
  destination: string,
): LinkAdaptive | null {
  const cfg = sites.link(source, destination)
  const key = linkKey(source, destination)
  const setting = settings.find((s) => s.link === key)
  const current = adaptiveLimit(cfg, setting)
  if (current === undefined) return null
  return {
    pinned: setting?.maxActive != null,
    current,
    minActive: cfg.minActive,
    maxActive: cfg.maxActive,
    decisions: decisions
      .filter((d) => d.link === key)
      .slice(0, DECISIONS_SHOWN)
      .map((d) => ({ at: d.at, from: d.from, to: d.to, reason: d.reason })),
  }
}

/** One link's view after an operator's change: its effective limit, pause state and adaptive part. */
export async function linkSettingView(store: Store, sites: SiteCatalog, source: string, destination: string) {
  const link = linkKey(source, destination)
  const [settings, decisions] = await Promise.all([
    store.linkSettings(),
    store.linkDecisions(link, DECISIONS_SHOWN),
  ])
  const cfg = effectiveLink(sites, settings, source, destination)
  const adaptive = adaptiveView(sites, settings, decisions, source, destination)
  // a fixed link's answer stays what it was before adaptive links
  return { link, maxActive: cfg.maxActive, paused: cfg.paused, ...(adaptive ? { adaptive } : {}) }
}

/** A line for people: the limit, and for an adaptive link whether pinned and the tuner's last change. */
export function describeAdaptive(a: LinkAdaptive | null | undefined): string {
  if (!a) return ''
  if (a.pinned)
    return `adaptive ${a.minActive}..${a.maxActive}, pinned by an operator (the tuner's limit is ${a.current}; unpin to let it move the limit)`
  const last = a.decisions[0]
  const why = last
    ? `; last change ${last.from} -> ${last.to} at ${new Date(last.at).toISOString()}: ${last.reason}`
    : ''
  return `adaptive ${a.minActive}..${a.maxActive}, the tuner's limit ${a.current}${why}`
}
