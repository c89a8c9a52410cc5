/**
 * Quota-aware admission (issue 18, docs/quota-admission.md): before a user's files go to a site with a
 * `quota` section, how many bytes more the user's area there takes, so that the submitter hands over no more
 * than fit and the rest waits under a `quota` hold that says the numbers, instead of failing attempts.
 */
import type { Logger } from 'pino'
import type { AsoConfig } from '../config/schema.js'
import { formatSize } from '../domain/size.js'
import { IN_FLIGHT_STATES } from '../domain/states.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { FreeSpace } from '../storage/protocol.js'
import type { StorageRegistry } from '../storage/registry.js'
import type { Store } from '../store/store.js'

/** What the admission reads and writes of the store. */
export type QuotaStore = Pick<Store, 'counts' | 'renewHold' | 'releaseHolds'>

/** A user's queue to one destination, as the submitter sees it. */
export interface AdmissionQueue {
  user: string
  destination: string
}

/** Where a figure of free bytes came from, with what `aso explain` says of it. */
export interface QuotaFigure {
  /** bytes the area took when the figure was taken (a configured quota: what is left of it) */
  free: number
  source: FreeSpace['source'] | 'configured'
  /** the URL asked, or the configured quota's field */
  where: string
  at: number
}

export type Admission =
  /** no limit known: claim as usual */
  | { kind: 'open' }
  /** the storage is being asked for the first time: skip this queue this cycle (no hold) */
  | { kind: 'pending' }
  /** claim at most `maxBytes` (in queue order); the numbers are for the hold's reason */
  | {
      kind: 'budget'
      maxBytes: number
      figure: QuotaFigure
      inFlight: number
      /** bytes delivered since the figure was taken (a cached figure does not see them yet) */
      deliveredSince: number
      waitingFiles: number
      waitingBytes: number
    }

/** Storage questions in flight at once (each may be a process: xrdfs) */
const MAX_PROBES = 8

interface Probe {
  /** the last answer (null: the storage gives no figure) and when it came */
  result?: { free: FreeSpace | null; at: number; delivered: number }
  /** a question in flight */
  pending?: Promise<void>
  failing?: boolean
}

interface UserBytes {
  inFlight: number
  delivered: number
  waitingFiles: number
  waitingBytes: number
}

/**
 * Admission decisions for the submitter. Storage is asked in the background, at most once per (site, user area)
 * per `recheck`, within `timeout`: a slow or failing storage never holds the submitter up; it means no limit
 * (and a warning, once until it answers again).
 */
export class QuotaAdmission {
  private readonly probes = new Map<string, Probe>()
  /** (user, site) this process holds for quota: released once their bytes fit again */
  private readonly held = new Set<string>()
  /** storage questions in flight */
  private asking = 0

  constructor(
    private readonly ctx: {
      config: AsoConfig
      sites: SiteCatalog
      storage: Pick<StorageRegistry, 'freeSpace' | 'supports'>
      store: QuotaStore
      log: Logger
      agentId: string
      now(): number
    },
  ) {}

  /** How many bytes of this queue the next claim may take. Returns at once (never waits for storage). */
  async admit(q: AdmissionQueue, now: number): Promise<Admission> {
    const quota = this.ctx.config.sites[q.destination]?.quota
    if (!quota) return { kind: 'open' }
    const bytes = await this.userBytes(q)
    let figure: QuotaFigure | null = null
    let deliveredSince = 0
    if (quota.probe) {
      const area = this.areaUrl(q)
      if (area !== null) {
        const probe = this.probe(`${q.destination}\0${area}`, area, bytes.delivered, now, quota)
        if (!probe.result) return { kind: 'pending' }
        const free = probe.result.free
        if (free !== null) {
          figure = { free: free.bytes, source: free.source, where: free.url, at: probe.result.at }
          deliveredSince = Math.max(0, bytes.delivered - probe.result.delivered)
        }
      }
    }
    if (figure === null && quota.perUser !== undefined) {
      figure = {
        free: Math.max(0, quota.perUser - bytes.delivered),
        source: 'configured',
        where: `sites.${q.destination}.quota.perUser (${formatSize(quota.perUser)}, ${formatSize(bytes.delivered)} delivered by ASO)`,
        at: now,
      }
    }
    if (figure === null) return { kind: 'open' }
    const maxBytes = Math.max(0, figure.free - bytes.inFlight - deliveredSince)
    // a figure being asked again may admit, never hold: the fresh one may say the space was freed
    const stale = figure.source !== 'configured' && now - figure.at >= quota.recheck
    if (stale && maxBytes < bytes.waitingBytes) return { kind: 'pending' }
    return {
      kind: 'budget',
      maxBytes,
      figure,
      inFlight: bytes.inFlight,
      deliveredSince,
      waitingFiles: bytes.waitingFiles,
      waitingBytes: bytes.waitingBytes,
    }
  }

  /**
   * After the claim: nothing of a limited queue fitted (`claimedFiles` 0 while files wait) places or renews the
   * user's `quota` hold on that site until the next recheck; room again releases the hold this process placed.
   */
  async settle(q: AdmissionQueue, a: Admission, claimedFiles: number, now: number): Promise<void> {
    const key = `${q.user}\0${q.destination}`
    const blocked =
      a.kind === 'budget' && claimedFiles === 0 && a.waitingFiles > 0 && a.maxBytes < a.waitingBytes
    if (blocked) {
      const recheck = this.ctx.config.sites[q.destination]?.quota?.recheck ?? 60_000
      const isNew = await this.ctx.store.renewHold(
        {
          user: q.user,
          site: q.destination,
          class: 'quota',
          reason: quotaHoldReason(q, a),
          since: now,
          until: now + recheck,
        },
        this.ctx.agentId,
      )
      if (isNew)
        this.ctx.log.info({ user: q.user, site: q.destination, reason: quotaHoldReason(q, a) }, 'quota hold')
      this.held.add(key)
    } else if (claimedFiles > 0 && this.held.delete(key)) {
      await this.ctx.store.releaseHolds(
        { user: q.user, site: q.destination, class: 'quota' },
        now,
        this.ctx.agentId,
      )
    }
  }

  /** Bytes of this user at this destination by state, from the rollup (one row per source and state). */
  private async userBytes(q: AdmissionQueue): Promise<UserBytes> {
    const out: UserBytes = { inFlight: 0, delivered: 0, waitingFiles: 0, waitingBytes: 0 }
    for (const c of await this.ctx.store.counts({ user: q.user })) {
      if (c.destination !== q.destination || c.user !== q.user) continue
      if (IN_FLIGHT_STATES.includes(c.state)) out.inFlight += c.bytes
      else if (c.state === 'DONE') out.delivered += c.bytes
      else if (c.state === 'NEW') {
        out.waitingFiles += c.n
        out.waitingBytes += c.bytes
      }
    }
    return out
  }

  /** The URL of the user's area at the destination, on the first protocol this agent can ask; null: none. */
  private areaUrl(q: AdmissionQueue): string | null {
    const areas = this.ctx.sites.areas(q.destination)
    if (!areas) return null
    const lfn = userAreaDir(areas.userArea, q.user)
    try {
      const ep = this.ctx.sites.endpoints(q.destination, lfn).find((e) => this.ctx.storage.supports(e.scheme))
      return ep?.url ?? null
    } catch (e) {
      // no PFN rule for the area: nothing to ask, like a storage that gives no figure
      void e
      return null
    }
  }

  /** The cached answer for an area, asking again in the background once it is `recheck` old. */
  private probe(
    key: string,
    url: string,
    delivered: number,
    now: number,
    quota: { recheck: number; timeout: number },
  ): Probe {
    let p = this.probes.get(key)
    if (!p) {
      p = {}
      this.probes.set(key, p)
    }
    const stale = !p.result || now - p.result.at >= quota.recheck
    // a bounded number of questions at once: the others are asked in a later cycle
    if (stale && !p.pending && this.asking < MAX_PROBES) {
      const probe = p
      this.asking++
      probe.pending = this.ask(url, quota.timeout)
        .finally(() => {
          this.asking--
        })
        .then(
          (free) => {
            if (probe.failing) this.ctx.log.info({ url }, 'free space known again')
            probe.failing = false
            probe.result = { free, at: this.ctx.now(), delivered }
            probe.pending = undefined
          },
          (e: unknown) => {
            if (!probe.failing)
              this.ctx.log.warn(
                { url, err: (e as Error).message },
                'cannot learn the free space of a user area: no quota limit until it answers',
              )
            probe.failing = true
            probe.result = { free: null, at: this.ctx.now(), delivered }
            probe.pending = undefined
          },
        )
    }
    return p
  }

  /** The storage's answer within `timeoutMs`: the signal stops what can be stopped, the race what cannot (statfs). */
  private async ask(url: string, timeoutMs: number): Promise<FreeSpace | null> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      return await Promise.race([
        this.ctx.storage.freeSpace(url, { scope: 'DESTINATION', signal: AbortSignal.timeout(timeoutMs) }),
        late,
      ])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Waits for the storage questions in flight (tests, shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.probes.values()].map((p) => p.pending))
  }
}

/**
 * The directory LFN of a user's area from its pattern (`/store/user/{user}/` -> `/store/user/alice/`), cut
 * before the first segment that is not one directory (a `*`, or a `{group}`).
 */
export function userAreaDir(pattern: string, user: string): string {
  const kept: string[] = []
  for (const segment of pattern.split('/').filter((s) => s !== '')) {
    if (segment.includes('*') || segment.includes('{group}')) break
    kept.push(segment.replaceAll('{user}', user))
  }
  return `/${kept.join('/')}/`
}

const SOURCE_NAMES: Record<QuotaFigure['source'], string> = {
  webdav: 'WebDAV quota-available-bytes',
  xrootd: 'XRootD spaceinfo',
  statfs: 'statfs',
  configured: 'configured quota',
}

/** The hold's reason: what waits, what the area takes, where that figure came from and what is in flight. */
export function quotaHoldReason(q: AdmissionQueue, a: Extract<Admission, { kind: 'budget' }>): string {
  const f = a.figure
  const at = new Date(f.at).toISOString().replace(/\.\d{3}Z$/, 'Z')
  const parts = [
    `quota admission: ${a.waitingFiles} file${a.waitingFiles === 1 ? '' : 's'} (${formatSize(a.waitingBytes)}, ${a.waitingBytes} B) of ${q.user} wait for ${q.destination}`,
    `${formatSize(f.free)} (${f.free} B) free by ${SOURCE_NAMES[f.source]} of ${f.where} at ${at}`,
    `${formatSize(a.inFlight)} in flight${a.deliveredSince > 0 ? `, ${formatSize(a.deliveredSince)} delivered since` : ''}`,
    `room for ${formatSize(a.maxBytes)} (${a.maxBytes} B)`,
  ]
  return `${parts.join('; ')}: the rest waits until space is freed`
}
