import { z } from 'zod'

/** One `links.*` entry: limits per link, the engine, and the adaptive limit's bounds (issue 18). */
export const linkSettings = z
  .strictObject({
    maxActive: z.number().int().positive().optional(),
    maxFilesPerJob: z.number().int().positive().max(1000).optional(),
    engine: z.enum(['local', 'fts3']).optional(),
    /** the leader moves the link's limit between minActive and maxActive by measured throughput */
    adaptive: z.boolean().optional(),
    /** the adaptive limit before any measurement (default: a quarter of maxActive, at least minActive) */
    startActive: z.number().int().positive().optional(),
    /** the adaptive limit never goes below this (default 1) */
    minActive: z.number().int().positive().optional(),
  })
  .superRefine((l, ctx) => {
    const { minActive, startActive, maxActive } = l
    if (minActive !== undefined && maxActive !== undefined && minActive > maxActive)
      ctx.addIssue({
        code: 'custom',
        path: ['minActive'],
        message: `minActive ${minActive} is above maxActive ${maxActive}: lower minActive or raise maxActive`,
      })
    if (startActive !== undefined && minActive !== undefined && startActive < minActive)
      ctx.addIssue({
        code: 'custom',
        path: ['startActive'],
        message: `startActive ${startActive} is below minActive ${minActive}: use a value from minActive to maxActive`,
      })
    if (startActive !== undefined && maxActive !== undefined && startActive > maxActive)
      ctx.addIssue({
        code: 'custom',
        path: ['startActive'],
        message: `startActive ${startActive} is above maxActive ${maxActive}: use a value from minActive to maxActive`,
      })
  })

export type LinkSettingsConfig = z.output<typeof linkSettings>

/** The entries that apply to link `key` (`A->B`, or a pattern), most specific first, `default` last. */
export function linkEntryOrder(key: string): string[] {
  if (key === 'default') return ['default']
  const [source, destination] = key.split('->') as [string, string]
  return [...new Set([key, `${source}->*`, `*->${destination}`, '*->*', 'default'])]
}

/** A link's settings merged field by field over its entries (the catalog's rule, sites/catalog.ts). */
export function pickLinkSetting<K extends keyof LinkSettingsConfig>(
  links: Record<string, LinkSettingsConfig>,
  key: string,
  field: K,
): LinkSettingsConfig[K] | undefined {
  for (const k of linkEntryOrder(key)) {
    const v = links[k]?.[field]
    if (v !== undefined) return v
  }
  return undefined
}

/**
 * Checks the adaptive settings of each entry against what it inherits: an entry that says `adaptive: true`
 * must not resolve to the fts3 engine (FTS3 runs its own optimizer; ASO must not fight it), and its
 * minActive ≤ startActive ≤ maxActive once merged with `default` and wildcard entries.
 */
export function checkAdaptiveLinks(
  config: { engine: 'local' | 'fts3'; links: Record<string, LinkSettingsConfig> },
  ctx: z.RefinementCtx,
): void {
  for (const [key, entry] of Object.entries(config.links)) {
    const adaptive = pickLinkSetting(config.links, key, 'adaptive')
    if (!adaptive) continue
    const engine = pickLinkSetting(config.links, key, 'engine') ?? config.engine
    if (entry.adaptive === true && engine === 'fts3') {
      ctx.addIssue({
        code: 'custom',
        path: ['links', key, 'adaptive'],
        message:
          'adaptive limits are for the built-in engine and this link uses fts3, whose optimizer sets its own limits: remove adaptive or set engine: local on this link',
      })
      continue
    }
    const max = pickLinkSetting(config.links, key, 'maxActive') ?? DEFAULT_MAX_ACTIVE
    const min = pickLinkSetting(config.links, key, 'minActive') ?? 1
    const start = pickLinkSetting(config.links, key, 'startActive')
    if (min > max)
      ctx.addIssue({
        code: 'custom',
        path: ['links', key, 'minActive'],
        message: `minActive ${min} is above maxActive ${max} (merged with links.default): lower minActive or raise maxActive`,
      })
    else if (start !== undefined && (start < min || start > max))
      ctx.addIssue({
        code: 'custom',
        path: ['links', key, 'startActive'],
        message: `startActive ${start} is outside minActive..maxActive ${min}..${max} (merged with links.default): use a value in that range`,
      })
  }
}

export const DEFAULT_MAX_ACTIVE = 20

/** startActive when aso.yaml gives none: a quarter of maxActive, within the bounds. */
export function defaultStartActive(minActive: number, maxActive: number): number {
  return Math.min(maxActive, Math.max(minActive, Math.ceil(maxActive / 4)))
}
