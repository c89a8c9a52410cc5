import { readFileSync } from 'node:fs'
import { parse as parseYaml } from 'yaml'
import { z } from 'zod'
import type { LinkModel } from './link-model.js'
import { logNormal, pick, rng, zipfWeights } from './random.js'

const range = (lo: number, hi: number) =>
  z
    .tuple([z.number().nonnegative(), z.number().nonnegative()])
    .default([lo, hi])
    .refine(([a, b]) => a <= b, { message: 'is [min, max] with min <= max' })
const share = (d: number) => z.number().min(0).max(1).default(d)

/**
 * A simulated day: the workload (jobs ending, their outputs), the network and the causes of failure. Every
 * figure is drawn from `seed`, so the same scenario and seed give the same day.
 */
export const scenarioSchema = z.strictObject({
  name: z.string().min(1).default('custom'),
  seed: z.number().int().default(1),
  /** jobs end (and inject their outputs) over this many hours */
  hours: z
    .number()
    .positive()
    .max(24 * 14)
    .default(24),
  files: z.number().int().min(1).max(10_000_000),
  sites: z.number().int().min(2).max(2000),
  users: z.number().int().min(1).max(100_000),
  /** Zipf exponent of user activity: 0 = all alike, 1.1 ≈ a few users inject most files */
  userSkew: z.number().min(0).max(4).default(1.1),
  /** mean outputs per job (each job has 1 + a geometric number more) */
  filesPerJob: z.number().min(1).max(100).default(2.5),
  /** file sizes: log-normal with this median (MB) and sigma (of the natural log) */
  sizeMedianMB: z.number().positive().default(200),
  sizeSigma: z.number().min(0).max(3).default(0.8),
  /** share of the sites that are users' destinations (home sites) */
  homeSites: share(0.5),
  /** sites a user's jobs run at */
  sitesPerUser: z.number().int().min(1).default(6),
  links: z
    .strictObject({
      /** parallel copies a link carries before congestion */
      streams: range(6, 24),
      /** bytes/s per copy, MB/s */
      streamRateMBs: range(15, 60),
      latencyMs: z.number().min(0).default(3000),
      /** share of the home sites that are small (slow links into them) */
      slowSites: share(0.06),
      slowStreams: z.number().int().min(1).default(4),
      slowRateMBs: range(3, 8),
      /** copies the FTS-like engine runs at once on a link, as a multiple of its streams (its optimizer) */
      engineActive: z.number().positive().default(2),
      /** how steeply a congested link's throughput falls (link-model.ts congestion) */
      congestion: z.number().min(0).default(0.5),
      /** transient failures per `streams` copies over capacity (link-model.ts failureSlope) */
      failureSlope: z.number().min(0).default(0.05),
    })
    .prefault({}),
  failures: z
    .strictObject({
      /** per copy, on every link, besides congestion's own failures */
      transient: share(0.01),
      /** per file: the job's output is missing or broken in the temp area */
      sourceMissing: share(0.0012),
      /** share of the sites whose storage fails copies into them (flaky destinations) */
      flakySites: share(0.05),
      /** per copy into a flaky site */
      flakyRate: share(0.2),
      /** share of the day's files whose users cannot write at their destination (wrong permissions) */
      permissionFiles: share(0.003),
      /** share of the sites with one down-time during the day, and its length in hours */
      downSites: share(0.04),
      downHours: range(1, 4),
    })
    .prefault({}),
  quota: z
    .strictObject({
      /** share of the day's files that do not fit in their users' areas (users drawn until it is reached) */
      overFiles: share(0.013),
      /** what fits, as a share of a tight user's expected output of the day */
      fits: range(0.3, 0.9),
    })
    .prefault({}),
  /** FTS's max_time_in_queue (hours): a file queued at the engine longer fails with the queue time-out */
  maxTimeInQueueHours: z.number().positive().default(5),
})

export type Scenario = z.output<typeof scenarioSchema>

/** The bundled scenario: a day of CMS analysis output at the scale of 2016-17 (aso-original.md). */
export const CMS_DAY: z.input<typeof scenarioSchema> = {
  name: 'cms-day',
  seed: 18,
  hours: 24,
  files: 600_000,
  sites: 100,
  users: 500,
}

export const BUNDLED: Record<string, z.input<typeof scenarioSchema>> = { 'cms-day': CMS_DAY }

/** Reads a bundled scenario by name, or a YAML/JSON file; errors name the field and what to write. */
export function loadScenario(nameOrPath: string): Scenario {
  const bundled = BUNDLED[nameOrPath]
  let raw: unknown = bundled
  if (!bundled) {
    let text: string
    try {
      text = readFileSync(nameOrPath, 'utf8')
    } catch {
      throw new Error(
        `no scenario "${nameOrPath}": give a bundled one (${Object.keys(BUNDLED).join(', ')}) or a YAML/JSON file`,
      )
    }
    try {
      raw = parseYaml(text)
    } catch (e) {
      throw new Error(`${nameOrPath}: not YAML/JSON: ${(e as Error).message}`)
    }
  }
  return parseScenario(raw, nameOrPath)
}

export function parseScenario(raw: unknown, where = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(raw)
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(scenario)'}: ${i.message}`)
    throw new Error(`${where} is not a valid scenario:\n${lines.join('\n')}`)
  }
  return r.data
}

export interface SimSite {
  name: string
  slow: boolean
  flaky: boolean
  /** [from, to) ms from the start, when the site's storage does not answer */
  down: [number, number][]
  streams: number
  streamRate: number
}

export interface SimUser {
  name: string
  weight: number
  home: number
  sources: number[]
  /** bytes the user's area at home can take (Infinity: no limit met today) */
  quota: number
  denied: boolean
}

/** The generated day: sites, users, and the jobs in order of their end, as flat arrays. */
export interface World {
  scenario: Scenario
  scale: number
  start: number
  sites: SimSite[]
  users: SimUser[]
  /** per job: end time (ms from start), user index, source site index, first file index, file count */
  jobEnd: Float64Array
  jobUser: Int32Array
  jobSource: Int32Array
  jobFirst: Int32Array
  jobFiles: Int32Array
  /** per file: size in bytes */
  size: Float64Array
  siteIndex: Map<string, number>
  userIndex: Map<string, number>
}

/** Virtual time 0: a fixed date, so that runs are comparable (and far from the wall clock). */
export const SIM_EPOCH = Date.UTC(2026, 0, 5)

/**
 * Draws the day. `scale` shrinks the files and, with them, link bandwidth and quota, so a scaled run keeps
 * the full day's congestion (copies of the same size just take longer).
 */
export function generateWorld(s: Scenario, scale = 1, seed = s.seed): World {
  const r = rng(seed)
  const between = ([a, b]: readonly [number, number]) => a + (b - a) * r()
  const MB = 1024 * 1024
  const nHome = Math.max(1, Math.round(s.sites * s.homeSites))
  const sites: SimSite[] = []
  for (let i = 0; i < s.sites; i++) {
    const home = i < nHome
    const slow = home && r() < s.links.slowSites
    sites.push({
      name: `T2_SIM_S${String(i).padStart(3, '0')}`,
      slow,
      flaky: r() < s.failures.flakySites,
      down: [],
      streams: slow ? s.links.slowStreams : Math.round(between(s.links.streams)),
      streamRate: (slow ? between(s.links.slowRateMBs) : between(s.links.streamRateMBs)) * MB * scale,
    })
  }
  const dayMs = s.hours * 3_600_000
  for (const site of sites) {
    if (r() < s.failures.downSites) {
      const len = between(s.failures.downHours) * 3_600_000
      const from = r() * Math.max(0, dayMs - len)
      site.down.push([from, from + len])
    }
  }
  // big sites run more jobs: a Zipf law over the sites
  const siteCum = zipfWeights(s.sites, 0.8)
  const homeCum = zipfWeights(nHome, 0.6)
  const activity = zipfWeights(s.users, s.userSkew)
  const meanSize = s.sizeMedianMB * MB * Math.exp((s.sizeSigma * s.sizeSigma) / 2)
  const files = Math.max(1, Math.round(s.files * scale))
  const users: SimUser[] = []
  for (let u = 0; u < s.users; u++) {
    const sources = new Set<number>()
    while (sources.size < Math.min(s.sitesPerUser, s.sites)) sources.add(pick(siteCum, r()))
    users.push({
      name: `user${String(u).padStart(4, '0')}`,
      weight: 1,
      home: pick(homeCum, r()),
      sources: [...sources],
      quota: Number.POSITIVE_INFINITY,
      denied: false,
    })
  }
  // who has no room or no permission: users drawn in a seeded order until their files reach the given share
  const shareOf = (u: number) => activity[u]! - (u > 0 ? activity[u - 1]! : 0)
  const order = users.map((_, i) => i)
  for (let i = order.length - 1; i > 0; i--) {
    const k = Math.floor(r() * (i + 1))
    ;[order[i], order[k]] = [order[k]!, order[i]!]
  }
  let over = 0
  let denied = 0
  for (const u of order) {
    const user = users[u]!
    const sh = shareOf(u)
    // a user heavy enough to overshoot the target alone is left out
    if (denied < s.failures.permissionFiles && sh < s.failures.permissionFiles / 3 + 1e-9) {
      user.denied = true
      denied += sh
      continue
    }
    if (over < s.quota.overFiles && sh * 0.5 < s.quota.overFiles) {
      const fits = between(s.quota.fits)
      user.quota = sh * files * meanSize * fits
      over += sh * (1 - fits)
    }
  }
  // jobs: end times over the day with a mild daily rhythm, users by activity
  const perJob = s.filesPerJob
  const ends: number[] = []
  const counts: number[] = []
  let total = 0
  while (total < files) {
    // 1 + geometric with mean perJob - 1
    let n = 1
    const p = 1 / perJob
    while (r() > p && n < 100) n++
    n = Math.min(n, files - total)
    counts.push(n)
    total += n
    for (;;) {
      const t = r()
      if (r() < 0.75 + 0.25 * Math.sin(2 * Math.PI * t)) {
        ends.push(t * dayMs)
        break
      }
    }
  }
  ends.sort((a, b) => a - b)
  const J = counts.length
  const jobEnd = Float64Array.from(ends)
  const jobUser = new Int32Array(J)
  const jobSource = new Int32Array(J)
  const jobFirst = new Int32Array(J)
  const jobFiles = Int32Array.from(counts)
  const size = new Float64Array(files)
  let f = 0
  for (let j = 0; j < J; j++) {
    const u = pick(activity, r())
    jobUser[j] = u
    const srcs = users[u]!.sources
    jobSource[j] = srcs[Math.floor(r() * srcs.length)]!
    jobFirst[j] = f
    for (let k = 0; k < counts[j]!; k++) {
      size[f++] = Math.max(1024, Math.min(20 * 1024 * MB, logNormal(r, s.sizeMedianMB * MB, s.sizeSigma)))
    }
  }
  return {
    scenario: s,
    scale,
    start: SIM_EPOCH,
    sites,
    users,
    jobEnd,
    jobUser,
    jobSource,
    jobFirst,
    jobFiles,
    size,
    siteIndex: new Map(sites.map((x, i) => [x.name, i])),
    userIndex: new Map(users.map((x, i) => [x.name, i])),
  }
}

/** The link between two sites: the narrower end decides. */
export function linkModelOf(w: World, source: number, destination: number): LinkModel {
  const a = w.sites[source]!
  const b = w.sites[destination]!
  return {
    streams: Math.min(a.streams, b.streams),
    streamRate: Math.min(a.streamRate, b.streamRate),
    latencyMs: w.scenario.links.latencyMs,
    congestion: w.scenario.links.congestion,
    failureSlope: w.scenario.links.failureSlope,
    maxFailureRate: 0.6,
  }
}

/** Whether a site is down at `t` (ms from the start). */
export function isDown(site: SimSite, t: number): boolean {
  return site.down.some(([a, b]) => t >= a && t < b)
}
