import { readdirSync, statSync } from 'node:fs'
import path from 'node:path'
import {
  DEFAULT_MAX_ACTIVE,
  defaultStartActive,
  type LinkSettingsConfig,
  pickLinkSetting,
} from '../config/links.js'
import type { AsoConfig, SiteConfig } from '../config/schema.js'
import type { Endpoint } from '../domain/endpoint.js'
import { type Areas, DEFAULT_AREAS } from '../domain/lfn.js'
import { lfnToPfn } from './pfn.js'

/** Why a site cannot serve an LFN, with the class a transfer gets for it. */
export class SiteResolutionError extends Error {
  readonly site: string
  readonly lfn: string
  constructor(site: string, lfn: string, message: string) {
    super(message)
    this.name = 'SiteResolutionError'
    this.site = site
    this.lfn = lfn
  }
}

/** Per-link settings after merging `links.default`, the link's own entry and wildcard entries. */
export interface LinkConfig {
  /** the fixed limit; for an adaptive link, the highest its limit goes */
  maxActive: number
  maxFilesPerJob: number
  engine: 'local' | 'fts3'
  /** the leader tunes this link's limit (never on fts3 links: FTS3 runs its own optimizer) */
  adaptive: boolean
  /** the adaptive limit before any measurement */
  startActive: number
  /** the lowest the adaptive limit goes */
  minActive: number
}

/** The site catalog from aso.yaml (or, without sites, every directory of `sitesDir` as a file:// site). */
export class SiteCatalog {
  private readonly sites: Map<string, SiteConfig>
  private readonly implicit: boolean
  private lastScan = 0

  constructor(private readonly config: AsoConfig) {
    this.implicit = Object.keys(config.sites).length === 0
    this.sites = new Map(Object.entries(config.sites))
    if (this.implicit) this.scan()
  }

  /** Implicit sites: each directory `sitesDir/<SITE>/` is a site whose file:// PFN is that directory + LFN. */
  private scan(): void {
    this.lastScan = Date.now()
    let names: string[] = []
    try {
      names = readdirSync(this.config.sitesDir).filter((n) => {
        try {
          return /^[A-Za-z0-9_-]{1,64}$/.test(n) && statSync(path.join(this.config.sitesDir, n)).isDirectory()
        } catch {
          // vanished between readdir and stat: not a site
          return false
        }
      })
    } catch {
      // no sites directory yet: no implicit sites
    }
    for (const name of names) {
      if (!this.sites.has(name)) {
        this.sites.set(name, {
          protocols: [{ scheme: 'file', prefix: path.join(this.config.sitesDir, name), tpc: true }],
          ...DEFAULT_AREAS,
        })
      }
    }
  }

  private site(name: string): SiteConfig | undefined {
    let s = this.sites.get(name)
    if (!s && this.implicit && Date.now() - this.lastScan > 1000) {
      this.scan()
      s = this.sites.get(name)
    }
    return s
  }

  names(): string[] {
    return [...this.sites.keys()].sort()
  }

  has(name: string): boolean {
    return this.site(name) !== undefined
  }

  areas(name: string): Areas | undefined {
    const s = this.site(name)
    if (!s) return undefined
    return {
      tempArea: s.tempArea,
      tempGroupArea: s.tempGroupArea,
      userArea: s.userArea,
      groupArea: s.groupArea,
    }
  }

  /** The schemes a site serves, in its order of preference. */
  schemes(name: string): string[] {
    return this.site(name)?.protocols.map((p) => p.scheme) ?? []
  }

  /** The URLs of `lfn` at `site`, one per protocol that maps it, in the site's order. Throws when there is none. */
  endpoints(siteName: string, lfn: string): Endpoint[] {
    const s = this.site(siteName)
    if (!s) {
      throw new SiteResolutionError(
        siteName,
        lfn,
        `unknown site "${siteName}" (for ${lfn}): it is not in the site catalog`,
      )
    }
    const out: Endpoint[] = []
    for (const p of s.protocols) {
      const url = lfnToPfn(p, lfn)
      if (url !== null) out.push({ scheme: p.scheme, url })
    }
    if (out.length === 0) {
      throw new SiteResolutionError(
        siteName,
        lfn,
        `site "${siteName}" has no LFN-to-PFN rule matching ${lfn} (protocols: ${s.protocols.map((p) => p.scheme).join(', ')})`,
      )
    }
    return out
  }

  /** Why `lfn` cannot be mapped at `site`, or null. */
  pfnProblem(siteName: string, lfn: string): string | null {
    try {
      this.endpoints(siteName, lfn)
      return null
    } catch (e) {
      return (e as Error).message
    }
  }

  /** Whether third-party copy is allowed for an endpoint scheme at a site. */
  tpcAllowed(siteName: string, scheme: string): boolean {
    return this.site(siteName)?.protocols.find((p) => p.scheme === scheme)?.tpc ?? false
  }

  /** Settings of a link: its own entry, then wildcard entries (`*->B`, `A->*`), then `default`. */
  link(source: string, destination: string): LinkConfig {
    const key = `${source}->${destination}`
    const pick = <K extends keyof LinkSettingsConfig>(field: K) =>
      pickLinkSetting(this.config.links, key, field)
    const engine = pick('engine') ?? this.config.engine
    const maxActive = pick('maxActive') ?? DEFAULT_MAX_ACTIVE
    // aso.yaml's check refuses minActive > maxActive per entry; a merge of entries may still cross them
    const minActive = Math.min(maxActive, pick('minActive') ?? 1)
    const start = pick('startActive') ?? defaultStartActive(minActive, maxActive)
    return {
      maxActive,
      maxFilesPerJob: pick('maxFilesPerJob') ?? 100,
      engine,
      // an adaptive default stays off on fts3 links
      adaptive: (pick('adaptive') ?? false) && engine !== 'fts3',
      startActive: Math.min(maxActive, Math.max(minActive, start)),
      minActive,
    }
  }
}
