import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { Agent } from '../agent/runner.js'
import { parseConfig } from '../config/load.js'
import type { AsoConfig } from '../config/schema.js'
import { validateRequest } from '../domain/request.js'
import { SiteCatalog } from '../sites/catalog.js'
import { requestContext } from '../sites/request-context.js'
import { StorageRegistry } from '../storage/registry.js'
import { openStore } from '../store/open.js'
import type { InjectItem } from '../store/ops/inject.js'
import { VirtualClock } from './clock.js'
import { SimEngine } from './engine.js'
import { FairnessTracker, type PolicyResult, Tally, utilisation } from './metrics.js'
import { Network } from './network.js'
import { DESCRIPTIONS, type PolicyName } from './policies.js'
import { rng } from './random.js'
import type { World } from './scenario.js'

export interface RunOptions {
  /** a directory for the policy's SQLite store (default: a fresh temporary one, removed after) */
  databaseDir?: string
  /** progress lines (virtual time, files terminal) */
  progress?: (line: string) => void
  /** virtual seconds between the driver's steps: outcomes and injections of one step are applied together */
  stepSeconds?: number
}

const HOUR = 3_600_000
/** How long after the day the simulation may run before it gives up (held files wait up to holds.maxHold). */
const MAX_TAIL_MS = 14 * 24 * HOUR

/** The simulation's aso.yaml: one file:// protocol per site (never touched: the engine is simulated). */
export function simConfig(world: World, dir: string, overrides: Record<string, unknown>): AsoConfig {
  const { agentScheduling, ...rest } = overrides as { agentScheduling?: string }
  const sites = Object.fromEntries(
    world.sites.map((s) => [s.name, { protocols: [{ scheme: 'file', prefix: `${dir}/sites/${s.name}` }] }]),
  )
  return parseConfig({
    database: `sqlite:${dir}/aso.db`,
    sites,
    cleanup: { deleteSourceOnDone: false },
    agent: {
      submitInterval: '5m',
      pollInterval: '1h',
      retryInterval: '5m',
      cleanInterval: '6h',
      reapInterval: '30m',
      heartbeatInterval: '5m',
      lease: '30m',
      stallTimeout: '24h',
      notifyInterval: '1h',
      publishInterval: '1h',
      tuneInterval: '10m',
      ...(agentScheduling ? { scheduling: agentScheduling } : {}),
    },
    ...rest,
  })
}

/** Lets promise callbacks and I/O run (real time), without moving the virtual clock. */
const tick = () => new Promise<void>((r) => setImmediate(r))

/**
 * One policy through the real store and the real agent loops on a virtual clock: jobs' outputs are injected
 * when the jobs end, the simulated engine copies them, and the clock jumps from one due event to the next.
 */
export async function runAgentPolicy(
  world: World,
  policy: Exclude<PolicyName, 'synchronous'>,
  overrides: Record<string, unknown>,
  opts: RunOptions = {},
): Promise<PolicyResult> {
  const wall0 = performance.now()
  const dir = opts.databaseDir ?? (await mkdtemp(path.join(tmpdir(), `aso-sim-${policy}-`)))
  const config = simConfig(world, dir, overrides)
  const store = await openStore(config.database, {
    policy: { deleteSourceOnDone: false, tempRetention: 1e15 },
  })
  const clock = new VirtualClock(world.start)
  const net = new Network(world, world.start)
  const tally = new Tally(world.start)
  const engine = new SimEngine(net, {
    originalFatal: policy === 'original',
    onFailure: (id, cause) => tally.failure(id, cause),
  })
  const sites = new SiteCatalog(config)
  const fairness = new FairnessTracker((u) => world.users[world.userIndex.get(u) ?? 0]?.weight ?? 1)
  const total = world.size.length
  let terminal = 0
  let lastEnd = world.start
  const unsubscribe = store.onEnded((ended) => {
    for (const e of ended) {
      terminal++
      lastEnd = Math.max(lastEnd, e.endedAt)
      const link = `${e.source}->${e.destination}`
      if (e.state === 'DONE') {
        tally.done(e.id, e.bytes, e.endedAt - e.createdAt, e.endedAt)
        fairness.ended(e.user, link, e.bytes)
      } else {
        tally.failed(e.id, e.endedAt)
        fairness.ended(e.user, link, 0)
      }
    }
  })
  const agent = new Agent({
    config,
    store,
    sites,
    engines: new Map([['local', engine]]),
    storage: new StorageRegistry(),
    log: pino({ level: 'silent' }),
    clock,
  })
  const ctx = requestContext(config, sites, {
    name: 'simulation',
    role: 'admin',
    groups: null,
    vomsRoles: [],
  })
  let nextJob = 0
  const injectDue = async (now: number) => {
    const items: InjectItem[] = []
    while (nextJob < world.jobEnd.length && world.start + world.jobEnd[nextJob]! <= now) {
      const j = nextJob++
      const u = world.users[world.jobUser[j]!]!
      const source = world.sites[world.jobSource[j]!]!.name
      const destination = world.sites[u.home]!.name
      const first = world.jobFirst[j]!
      const n = world.jobFiles[j]!
      fairness.added(u.name, `${source}->${destination}`, n)
      for (let k = 0; k < n; k++) {
        const f = first + k
        const v = validateRequest(
          {
            user: u.name,
            task: `${u.name}-day`,
            jobId: j,
            source,
            sourceLfn: `/store/temp/user/${u.name}.sim/out/j${j}_${k}.root`,
            destination,
            destinationLfn: `/store/user/${u.name}/out/j${j}_${k}.root`,
            size: Math.round(world.size[f]!),
            checksums: { adler32: (f + 1).toString(16).padStart(8, '0').slice(-8) },
          },
          ctx,
        )
        if (!v.ok) throw new Error(`simulated request refused: ${JSON.stringify(v.errors)}`)
        items.push({ id: v.id, request: v.request })
      }
    }
    for (let i = 0; i < items.length; i += 1000) {
      await store.inject(items.slice(i, i + 1000), {
        now,
        actor: 'simulation',
        maxAttempts: config.retry.maxAttempts,
      })
    }
    if (items.length) agent.wake('submitter')
  }

  // the product draws its retry jitter from Math.random: seeded for the run, so a seed gives one result
  const savedRandom = Math.random
  Math.random = rng(world.scenario.seed ^ 0x0a50)
  const step = (opts.stepSeconds ?? 120) * 1000
  const dayEnd = world.start + world.scenario.hours * HOUR
  let nextInterval = world.start + HOUR
  let lastProgress = 0
  let steps = 0
  let tickMs = 0
  let ticks = 0
  try {
    await agent.start()
    let t = world.start
    while (terminal < total) {
      await injectDue(t)
      net.advanceTo(t)
      // run what is due and everything it sets off at this instant, until nothing moves
      for (let idle = 0; idle < 2; ) {
        const fired = clock.fireDue()
        const w0 = performance.now()
        await tick()
        tickMs += performance.now() - w0
        ticks++
        if (fired === 0 && !agent.busy()) idle++
        else idle = 0
      }
      while (t >= nextInterval) {
        fairness.closeInterval()
        nextInterval += HOUR
      }
      if (opts.progress && performance.now() - lastProgress > 2000) {
        lastProgress = performance.now()
        const h = ((t - world.start) / HOUR).toFixed(1)
        opts.progress(`${policy}: virtual ${h} h, ${terminal}/${total} files terminal, ${nextJob} jobs ended`)
      }
      if (terminal >= total) break
      const nextArrival = nextJob < world.jobEnd.length ? world.start + world.jobEnd[nextJob]! : Infinity
      const next = Math.min(clock.nextAt(), net.nextAt(), nextArrival)
      if (next === Infinity || t > dayEnd + MAX_TAIL_MS)
        throw new Error(
          `${policy}: stuck at virtual ${((t - world.start) / HOUR).toFixed(1)} h with ${total - terminal} files not terminal`,
        )
      t = Math.max(t + step, next)
      clock.advanceTo(t)
      steps++
    }
    fairness.closeInterval()
    opts.progress?.(`${policy}: ${steps} steps, ${ticks} ticks, ${tickMs.toFixed(0)} ms in ticks`)
  } finally {
    Math.random = savedRandom
    unsubscribe()
    await agent.stop().catch(() => {})
    await engine.close()
    await store.close()
    if (!opts.databaseDir) await rm(dir, { recursive: true, force: true })
  }
  return {
    policy,
    description: DESCRIPTIONS[policy],
    files: total,
    terminal,
    delivered: { files: tally.deliveredFiles, bytes: tally.deliveredBytes },
    failed: { files: tally.failedFiles, byClass: tally.byClass },
    latencySeconds: tally.latency(),
    fairness: fairness.index(),
    linkUtilisation: utilisation(net.linkTotals(), lastEnd - world.start),
    cpuHoursLost: null,
    copiesStarted: net.copiesStarted,
    virtualHours: (lastEnd - world.start) / HOUR,
    wallSeconds: (performance.now() - wall0) / 1000,
    hourly: tally.hourly,
  }
}
