import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { effectiveLinkLimit } from '../../src/domain/link-limit.js'
import { SiteCatalog } from '../../src/sites/catalog.js'

const sites = {
  A: { protocols: [{ scheme: 'file', prefix: '/a' }] },
  B: { protocols: [{ scheme: 'file', prefix: '/b' }] },
  C: { protocols: [{ scheme: 'file', prefix: '/c' }] },
}

describe('links.*.adaptive in aso.yaml', () => {
  it('resolves the adaptive bounds per link, merged with the default', () => {
    const catalog = new SiteCatalog(
      parseConfig({
        sites,
        links: {
          default: { maxActive: 40, minActive: 2 },
          'A->B': { adaptive: true, startActive: 6 },
          'A->C': { adaptive: true },
        },
      }),
    )
    expect(catalog.link('A', 'B')).toMatchObject({
      adaptive: true,
      minActive: 2,
      startActive: 6,
      maxActive: 40,
    })
    // startActive by default: a quarter of maxActive
    expect(catalog.link('A', 'C')).toMatchObject({ adaptive: true, startActive: 10 })
    expect(catalog.link('B', 'C')).toMatchObject({ adaptive: false })
  })

  it('refuses adaptive on an fts3 link, naming the field and the fix', () => {
    const cfg = {
      sites,
      engine: 'fts3',
      fts3: { servers: [{ url: 'https://fts.example.org:8446' }], proxyPath: '/tmp/{user}.pem' },
      links: { 'A->B': { adaptive: true } },
    }
    expect(() => parseConfig(cfg)).toThrow(
      /links\.A->B\.adaptive.*fts3.*remove adaptive or set engine: local on this link/,
    )
    // the same link on the built-in engine is fine
    expect(() =>
      parseConfig({ ...cfg, links: { 'A->B': { adaptive: true, engine: 'local' } } }),
    ).not.toThrow()
  })

  it('leaves an adaptive default off on the links that use fts3', () => {
    const catalog = new SiteCatalog(
      parseConfig({
        sites,
        fts3: { servers: [{ url: 'https://fts.example.org:8446' }], proxyPath: '/tmp/{user}.pem' },
        links: { default: { adaptive: true }, 'A->B': { engine: 'fts3' } },
      }),
    )
    expect(catalog.link('A', 'B').adaptive).toBe(false)
    expect(catalog.link('A', 'C').adaptive).toBe(true)
  })

  it('wants minActive <= startActive <= maxActive', () => {
    expect(() =>
      parseConfig({ sites, links: { 'A->B': { adaptive: true, minActive: 5, maxActive: 4 } } }),
    ).toThrow(/links\.A->B\.minActive: minActive 5 is above maxActive 4: lower minActive or raise maxActive/)
    expect(() => parseConfig({ sites, links: { 'A->B': { adaptive: true, startActive: 30 } } })).toThrow(
      /links\.A->B\.startActive: startActive 30 is outside minActive\.\.maxActive 1\.\.20/,
    )
    expect(() =>
      parseConfig({ sites, links: { default: { minActive: 8 }, 'A->B': { adaptive: true, maxActive: 4 } } }),
    ).toThrow(/links\.A->B\.minActive: minActive 8 is above maxActive 4 \(merged with links\.default\)/)
  })
})

describe('the effective limit of an adaptive link', () => {
  const link = {
    maxActive: 40,
    maxFilesPerJob: 100,
    engine: 'local' as const,
    adaptive: true,
    startActive: 6,
    minActive: 2,
  }

  it('is startActive until the tuner measured, then the tuner limit', () => {
    expect(effectiveLinkLimit(link, undefined).maxActive).toBe(6)
    expect(effectiveLinkLimit(link, { adaptiveActive: 17 }).maxActive).toBe(17)
  })

  it("is the operator's pinned limit while pinned", () => {
    expect(effectiveLinkLimit(link, { adaptiveActive: 17, maxActive: 3 }).maxActive).toBe(3)
  })

  it('stays within minActive..maxActive when aso.yaml narrowed them', () => {
    expect(effectiveLinkLimit(link, { adaptiveActive: 90 }).maxActive).toBe(40)
    expect(effectiveLinkLimit(link, { adaptiveActive: 1 }).maxActive).toBe(2)
  })

  it('ignores a stored adaptive limit once the link is no longer adaptive', () => {
    expect(effectiveLinkLimit({ ...link, adaptive: false }, { adaptiveActive: 17 }).maxActive).toBe(40)
  })
})
