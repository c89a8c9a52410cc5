import { effectiveLinkLimit } from '../domain/link-limit.js'
import { linkKey } from '../domain/transfer.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { LinkSetting } from '../store/ops/link-settings.js'

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
