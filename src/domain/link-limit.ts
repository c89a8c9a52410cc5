/** What an operator may set on a link at run time (`aso link set` / `aso link pause`); null or absent: unset. */
export interface LinkOverride {
  maxActive?: number | null
  paused?: boolean
}

/**
 * A link's effective limit: the operator's override wins over aso.yaml's `links.*.maxActive`, and a link is
 * running unless the operator paused it. The submitter schedules by it and `aso explain` reports it, so the
 * two can never disagree.
 */
export function effectiveLinkLimit<L extends { maxActive: number }>(
  configured: L,
  override: LinkOverride | undefined,
): L & { maxActive: number; paused: boolean } {
  return {
    ...configured,
    maxActive: override?.maxActive ?? configured.maxActive,
    paused: override?.paused ?? false,
  }
}
