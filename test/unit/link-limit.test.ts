import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { effectiveLinkLimit } from '../../src/domain/link-limit.js'
import { effectiveLink } from '../../src/reports/link-limits.js'
import { SiteCatalog } from '../../src/sites/catalog.js'

describe('effective link limit', () => {
  const configured = { maxActive: 20, maxFilesPerJob: 100, engine: 'local' as const }

  it('is the configured limit, running, without an operator override', () => {
    expect(effectiveLinkLimit(configured, undefined)).toEqual({ ...configured, paused: false })
    expect(effectiveLinkLimit(configured, {})).toEqual({ ...configured, paused: false })
  })

  it("takes the operator's limit over aso.yaml's, and keeps the rest of the link's configuration", () => {
    expect(effectiveLinkLimit(configured, { maxActive: 5, paused: false })).toEqual({
      ...configured,
      maxActive: 5,
      paused: false,
    })
    // an override of 0 is a limit (nothing starts), not an unset value
    expect(effectiveLinkLimit(configured, { maxActive: 0 }).maxActive).toBe(0)
  })

  it('keeps the configured limit when the override only pauses (maxActive null)', () => {
    expect(effectiveLinkLimit(configured, { maxActive: null, paused: true })).toEqual({
      ...configured,
      paused: true,
    })
  })

  it('is what the reports show for a link of aso.yaml and a stored override', () => {
    const sites = new SiteCatalog(
      parseConfig({
        links: { default: { maxActive: 20 }, 'A->B': { maxActive: 50 } },
      }),
    )
    const settings = [
      { link: 'A->B', maxActive: null, paused: true },
      { link: 'A->C', maxActive: 3, paused: false },
    ]
    expect(effectiveLink(sites, settings, 'A', 'B')).toMatchObject({ maxActive: 50, paused: true })
    expect(effectiveLink(sites, settings, 'A', 'C')).toMatchObject({ maxActive: 3, paused: false })
    expect(effectiveLink(sites, settings, 'C', 'A')).toMatchObject({ maxActive: 20, paused: false })
  })
})
