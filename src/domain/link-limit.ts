/**
 * What the store holds for a link at run time: an operator's override (`aso link set` / `aso link pause`;
 * null or absent: unset) and, for adaptive links, the limit the leader's tuner chose.
 */
export interface LinkOverride {
  maxActive?: number | null
  paused?: boolean
  /** the adaptive limit the tuner set last (links.*.adaptive); null: not tuned yet */
  adaptiveActive?: number | null
}

/** The adaptive part of a link's configuration (sites/catalog.ts LinkConfig). */
export interface AdaptiveLinkConfig {
  adaptive?: boolean
  startActive?: number
  minActive?: number
}

/**
 * A link's effective limit: the operator's override wins over aso.yaml's `links.*.maxActive` (on an adaptive
 * link it pins the limit), then the tuner's adaptive limit within minActive..maxActive (startActive until it
 * has measured), and a link is running unless the operator paused it. The submitter schedules by it and
 * `aso explain` reports it, so the two can never disagree.
 */
export function effectiveLinkLimit<L extends { maxActive: number } & AdaptiveLinkConfig>(
  configured: L,
  override: LinkOverride | undefined,
): L & { maxActive: number; paused: boolean } {
  return {
    ...configured,
    maxActive: override?.maxActive ?? adaptiveLimit(configured, override) ?? configured.maxActive,
    paused: override?.paused ?? false,
  }
}

/** The tuner's limit of an adaptive link, kept within its bounds; undefined for a fixed link. */
export function adaptiveLimit(
  configured: { maxActive: number } & AdaptiveLinkConfig,
  override: LinkOverride | undefined,
): number | undefined {
  if (!configured.adaptive) return undefined
  const min = Math.min(configured.minActive ?? 1, configured.maxActive)
  const limit = override?.adaptiveActive ?? configured.startActive ?? min
  return Math.min(configured.maxActive, Math.max(min, limit))
}
