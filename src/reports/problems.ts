/**
 * The dashboard's problems: what does not move and why. Stuck files are found per state through what already
 * indexes that state (queues of NEW files, open engine jobs, RETRY files), each bounded; sites are compared
 * through the time buckets; proxies are read from the files the fts3 engine would use.
 */

import type { AsoConfig } from '../config/schema.js'
import type { ProblemsResponse } from '../contract/dashboard.js'
import { credentialPath, readProxyFile } from '../credentials/index.js'
import { formatDuration } from '../domain/duration.js'
import { type FailureClass, hintFor } from '../domain/failures.js'
import { IN_FLIGHT_STATES, isTerminal } from '../domain/states.js'
import { linkKey } from '../domain/transfer.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { FinishedByLink } from '../store/ops/finished-reads.js'
import type { Hold } from '../store/ops/holds.js'
import type { Store } from '../store/store.js'
import { effectiveLink } from './link-limits.js'
import { HOUR_MS, lastBuckets, MINUTE_MS } from './overview.js'

/** Rows of each list at most: the page shows the worst first. */
const LIST_LIMIT = 50
/** A site needs this many files ended in the last hour for its failure rate to mean something. */
const MIN_FILES = 5
/** Users whose proxies are read at most per call. */
const MAX_PROXY_USERS = 200

export interface ProblemsOptions {
  user: string | undefined
  now: number
  stuckAfterMs: number
  proxyWithinMs: number
}

type SiteStat = { files: number; failed: number; classes: Map<string, number> }

function siteStats(rows: readonly FinishedByLink[]): Map<string, SiteStat> {
  const out = new Map<string, SiteStat>()
  const add = (key: string, r: FinishedByLink) => {
    if (r.state === 'KILLED') return
    const s = out.get(key) ?? { files: 0, failed: 0, classes: new Map() }
    s.files += r.files
    if (r.state === 'FAILED') {
      s.failed += r.files
      if (r.failureClass) s.classes.set(r.failureClass, (s.classes.get(r.failureClass) ?? 0) + r.files)
    }
    out.set(key, s)
  }
  for (const r of rows) {
    add(`source\0${r.source}`, r)
    add(`destination\0${r.destination}`, r)
  }
  return out
}

const rate = (s: { files: number; failed: number } | undefined) => (s && s.files > 0 ? s.failed / s.files : 0)

/**
 * Sites whose failure rate in the last hour is high and at least twice that of the day before, over everyone's
 * files: a site's health is no user's private data, and a user's few files say little about it.
 */
async function jumpedSites(store: Store, now: number) {
  const hour = lastBuckets(now, MINUTE_MS, 60)
  const hourStart = Math.floor(hour.from / HOUR_MS) * HOUR_MS
  const [recent, before] = await Promise.all([
    store.finishedByLink({ span: 'minute', ...hour }),
    store.finishedByLink({ span: 'hour', from: hourStart - 24 * HOUR_MS, to: hourStart }),
  ])
  const last = siteStats(recent)
  const prior = siteStats(before)
  const out: ProblemsResponse['sites'] = []
  for (const [key, s] of last) {
    const b = prior.get(key)
    const r = rate(s)
    const baseline = b && b.files >= MIN_FILES ? rate(b) : 0
    if (s.files < MIN_FILES || r < 0.25 || r < 2 * baseline + 0.05) continue
    const [side, site] = key.split('\0') as ['source' | 'destination', string]
    let top: [string, number] | null = null
    for (const [c, n] of s.classes) if (top === null || n > top[1]) top = [c, n]
    out.push({
      site,
      side,
      lastHour: { files: s.files, failed: s.failed, rate: r },
      before: { files: b?.files ?? 0, failed: b?.failed ?? 0, rate: rate(b) },
      topFailureClass: top?.[0] ?? null,
    })
  }
  return out.sort((a, b) => b.lastHour.rate - a.lastHour.rate).slice(0, LIST_LIMIT)
}

/** Why a queue's oldest file has not been submitted. */
function queueWhy(
  q: { source: string; destination: string; user: string },
  cfg: { maxActive: number; paused: boolean },
  inFlight: number,
  holds: readonly Hold[],
): string {
  const hold = holds.find((h) => h.user === q.user && (h.site === '*' || h.site === q.destination))
  if (hold) return `held (${hold.class}): ${hold.reason}`
  if (cfg.paused) return 'the link is paused by an operator'
  if (inFlight >= cfg.maxActive) return `the link is at its limit (${inFlight}/${cfg.maxActive} in flight)`
  return `waiting for the submitter (${inFlight}/${cfg.maxActive} in flight): check that an agent runs`
}

/** Users (in scope) with files not yet terminal whose proxy is missing, unreadable or expires soon. */
async function expiringProxies(
  config: AsoConfig,
  users: readonly string[],
  now: number,
  withinMs: number,
): Promise<ProblemsResponse['proxies']> {
  const pattern = config.fts3?.proxyPath
  if (!pattern) return { checked: false, expiring: [] }
  const expiring: ProblemsResponse['proxies']['expiring'] = []
  for (const user of users.slice(0, MAX_PROXY_USERS)) {
    const path = credentialPath(pattern, user)
    if (!path) continue
    try {
      const info = await readProxyFile(path, { allowExpired: true, now: new Date(now) })
      const left = info.notAfter.getTime() - now
      if (left > withinMs) continue
      expiring.push({
        user,
        notAfter: info.notAfter.getTime(),
        problem:
          left <= 0
            ? `the proxy at ${path} expired: ${user}'s transfers are held until a new one is there (voms-proxy-init)`
            : `the proxy at ${path} expires in ${formatDuration(left)}: renew it before then (voms-proxy-init)`,
      })
    } catch (e) {
      expiring.push({ user, notAfter: null, problem: (e as Error).message })
    }
  }
  return { checked: true, expiring }
}

export async function problemsReport(
  store: Store,
  sites: SiteCatalog,
  config: AsoConfig,
  o: ProblemsOptions,
): Promise<ProblemsResponse> {
  const before = o.now - o.stuckAfterMs
  const couchCfg = config.ingest?.couchdb
  const [queues, counts, settings, holds, jobs, retries, siteJumps, publication, couch] = await Promise.all([
    store.queueAges(o.user),
    store.counts(),
    store.linkSettings(),
    store.activeHolds(o.now),
    store.stalledEngineJobs(before, LIST_LIMIT, o.user),
    store.overdueRetries(before, LIST_LIMIT, o.user),
    jumpedSites(store, o.now),
    store.publicationProblems(o.user !== undefined ? { user: o.user } : {}, LIST_LIMIT),
    couchCfg && o.user === undefined ? couchProblems(store, couchCfg, o.now) : null,
  ])
  const inFlight = new Map<string, number>()
  const liveUsers = new Set<string>()
  for (const c of counts) {
    if (IN_FLIGHT_STATES.includes(c.state)) {
      const k = linkKey(c.source, c.destination)
      inFlight.set(k, (inFlight.get(k) ?? 0) + c.n)
    }
    if (!isTerminal(c.state) && c.n > 0 && (o.user === undefined || c.user === o.user)) liveUsers.add(c.user)
  }
  const stuck = queues
    .filter((q) => q.oldestCreatedAt !== null && q.oldestCreatedAt < before)
    .sort((a, b) => (a.oldestCreatedAt ?? 0) - (b.oldestCreatedAt ?? 0))
    .slice(0, LIST_LIMIT)
  const scopedHolds = holds.filter(
    (h) => (h.class === 'credential' || h.class === 'quota') && (o.user === undefined || h.user === o.user),
  )
  return {
    scope: { user: o.user ?? null },
    asOf: o.now,
    ...(couch ? { couch } : {}),
    stuckAfterMs: o.stuckAfterMs,
    queues: await Promise.all(
      stuck.map(async (q) => {
        const link = linkKey(q.source, q.destination)
        const cfg = effectiveLink(sites, settings, q.source, q.destination)
        return {
          link,
          user: q.user,
          waiting: q.waiting,
          oldestId: await store.oldestOfQueue(q),
          oldestCreatedAt: q.oldestCreatedAt ?? o.now,
          why: queueWhy(q, cfg, inFlight.get(link) ?? 0, holds),
        }
      }),
    ),
    engineJobs: jobs.map((j) => ({
      jobId: j.jobId,
      engine: j.engine,
      user: j.user,
      link: linkKey(j.source, j.destination),
      state: j.cancelRequestedAt !== null ? `${j.state} (cancel asked)` : j.state,
      files: j.files,
      lastProgressAt: j.lastProgressAt,
      cancelRequestedAt: j.cancelRequestedAt,
    })),
    retries: retries.map((r) => ({
      id: r.id,
      user: r.user,
      task: r.task,
      link: linkKey(r.source, r.destination),
      nextAttemptAt: r.nextAttemptAt,
      failureClass: r.failureClass,
      failureReason: r.failureReason,
    })),
    holds: scopedHolds.map((h) => ({
      user: h.user,
      site: h.site,
      class: h.class,
      reason: h.reason,
      since: h.since,
      until: h.until,
      hint: hintFor(h.class as FailureClass),
    })),
    sites: siteJumps,
    proxies: await expiringProxies(config, [...liveUsers].sort(), o.now, o.proxyWithinMs),
    publication: {
      failed: publication.failed.map((f) => ({
        id: f.id,
        user: f.user,
        task: f.task,
        dataset: f.dataset,
        block: f.blockName,
        failureClass: f.failureClass,
        failureReason: f.failureReason,
        at: f.updatedAt,
      })),
      blocks: publication.blocks,
    },
  }
}

/** The CouchDB bridge's lag and write-back trouble (docs/couchdb-bridge.md), as `aso couch status` shows them. */
async function couchProblems(
  store: Store,
  cfg: NonNullable<AsoConfig['ingest']['couchdb']>,
  now: number,
): Promise<NonNullable<ProblemsResponse['couch']>> {
  const database = `${cfg.url}/${encodeURIComponent(cfg.database)}`
  const s = await store.couchStatus(database)
  const f = s.feed
  const lagSeconds = f ? Math.max(0, (now - (f.caughtUpAt ?? f.updatedAt)) / 1000) : null
  return {
    database,
    lagSeconds,
    lagging: lagSeconds === null || lagSeconds * 1000 > cfg.lagWarning,
    pending: s.pending,
    conflicts: f?.conflicts ?? 0,
    forbidden: f?.forbidden ?? 0,
    refused: s.refused,
    lastError: f?.lastError ?? s.errors[0]?.error ?? null,
  }
}
