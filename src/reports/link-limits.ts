import type { SiteCatalog } from '../sites/catalog.js'
import type { LinkSetting } from '../store/types.js'

/** A link's effective limit and pause state: operator overrides in the store win over aso.yaml. */
export function effectiveLink(
  sites: SiteCatalog,
  settings: readonly LinkSetting[],
  source: string,
  destination: string,
) {
  const cfg = sites.link(source, destination)
  const o = settings.find((s) => s.link === `${source}->${destination}`)
  return { ...cfg, maxActive: o?.maxActive ?? cfg.maxActive, paused: o?.paused ?? false }
}
