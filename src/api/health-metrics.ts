/**
 * `GET /health` (the store answers, the fleet's loops run), `GET /health/live` (this process serves),
 * `GET /health/ready` (this process can do its job) and `GET /metrics` (Prometheus, names prefixed `aso_`):
 * public, outside /api/v1, so load balancers and Prometheus need no credential. /metrics serves prom-client's
 * default registry (this process's counters and histograms, `process_*`, `nodejs_*`) and, from one target of
 * the fleet at a time (the holder of the fleet-metrics lease), the store-wide gauges, computed from the store's
 * rollup (publication: its index of publishable files) at each scrape: summed over a fleet's targets they
 * count each file once.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { collectDefaultMetrics, Gauge, Registry, register } from 'prom-client'
import { z } from 'zod'
import { type HealthResponse, healthResponseSchema } from '../contract/schemas.js'
import { IN_FLIGHT_STATES } from '../domain/states.js'
import { withNotRequired } from '../reports/status.js'
import type { ApiContext } from './context.js'

/** A loop that has not completed a run for this many of its intervals (plus a minute) is not alive. */
const STALE_INTERVALS = 3

/** Prometheus text of the store's gauges, in a registry of its own so concurrent scrapes never mix. */
async function storeGauges(ctx: ApiContext): Promise<string> {
  const registry = new Registry()
  const gauge = (name: string, help: string, labelNames: string[] = []) =>
    new Gauge({ name, help, labelNames, registers: [registry] })
  const transfers = gauge('aso_transfers', 'transfers by state', ['state'])
  const bytes = gauge('aso_transfer_bytes', 'bytes of the transfers in each state', ['state'])
  const byClass = gauge('aso_transfers_by_class', 'FAILED and RETRY transfers by failure class', [
    'state',
    'class',
  ])
  const active = gauge('aso_link_active', 'files an engine holds (SUBMITTING, SUBMITTED, KILLING) per link', [
    'source',
    'destination',
  ])
  const queued = gauge('aso_link_queued', 'files waiting (NEW) per link', ['source', 'destination'])
  const webhooksPending = gauge('aso_webhooks_pending', 'webhook notifications waiting for delivery')
  const webhooksFailed = gauge('aso_webhooks_failed', 'webhook notifications given up')
  const publication = gauge('aso_publication_files', 'files by publication state', ['state'])
  const blocks = gauge(
    'aso_publication_blocks',
    'catalog blocks by state (OPEN, PUBLISHING, PUBLISHED, FAILED)',
    ['state'],
  )

  const [rows, classes, backlog, published, blockStates] = await Promise.all([
    ctx.store.counts(),
    ctx.store.failureClassCounts(),
    ctx.store.webhookBacklog(),
    ctx.store.publicationCounts({}),
    ctx.store.blockCounts(),
  ])
  const states = new Map<string, { n: number; bytes: number }>()
  const links = new Map<string, { source: string; destination: string; active: number; queued: number }>()
  for (const r of rows) {
    const s = states.get(r.state) ?? { n: 0, bytes: 0 }
    s.n += r.n
    s.bytes += r.bytes
    states.set(r.state, s)
    const key = `${r.source}\0${r.destination}`
    const l = links.get(key) ?? { source: r.source, destination: r.destination, active: 0, queued: 0 }
    if (IN_FLIGHT_STATES.includes(r.state)) l.active += r.n
    if (r.state === 'NEW') l.queued += r.n
    links.set(key, l)
  }
  for (const [state, s] of states) {
    transfers.set({ state }, s.n)
    bytes.set({ state }, s.bytes)
  }
  for (const c of classes) byClass.set({ state: c.state, class: c.failureClass }, c.n)
  for (const l of links.values()) {
    active.set({ source: l.source, destination: l.destination }, l.active)
    queued.set({ source: l.source, destination: l.destination }, l.queued)
  }
  const total = [...states.values()].reduce((a, s) => a + s.n, 0)
  for (const [state, n] of Object.entries(withNotRequired(published, total))) publication.set({ state }, n)
  for (const [state, n] of Object.entries(blockStates)) blocks.set({ state }, n)
  webhooksPending.set(backlog.pending)
  webhooksFailed.set(backlog.failed)
  return registry.metrics()
}

/** The lease whose holder's /metrics carries the store-wide gauges: one target of the fleet at a time. */
export const FLEET_METRICS_LEASE = 'fleet-metrics'

/**
 * This process's gauges at a scrape: `aso_agent_leader` when it runs an agent, `aso_fleet_exporter`, and the
 * store-wide gauges when this process holds (or takes) the fleet-metrics lease. Any process serving /metrics
 * may hold it (an agent's, an API-only replica's); it is renewed at each scrape and passes to another scraped
 * process once its holder has not been scraped for the lease's time (agent.lease, at least a minute).
 */
async function processGauges(ctx: ApiContext, holder: string): Promise<string> {
  const registry = new Registry()
  if (ctx.agent) {
    new Gauge({
      name: 'aso_agent_leader',
      help: '1 while the agent of this process holds the leader lease (runs the singleton loops), else 0',
      registers: [registry],
    }).set(ctx.agent.isLeader?.() === true ? 1 : 0)
  }
  const exporter = new Gauge({
    name: 'aso_fleet_exporter',
    help: '1 when this scrape carries the store-wide gauges (this process holds the fleet-metrics lease), else 0',
    registers: [registry],
  })
  let fleet = ''
  try {
    const now = Date.now()
    const ttl = Math.max(ctx.config.agent.lease, 60_000)
    if (await ctx.store.acquireLease(FLEET_METRICS_LEASE, holder, ttl, now)) fleet = await storeGauges(ctx)
  } catch {
    // the store does not answer: this process's own metrics still go out (/health says what is wrong)
    fleet = ''
  }
  exporter.set(fleet ? 1 : 0)
  return `${await registry.metrics()}\n${fleet}`
}

/** prom-client's `process_*` and `nodejs_*` metrics in the default registry, once per process. */
function collectProcessMetrics(): void {
  if (!register.getSingleMetric('process_cpu_seconds_total')) collectDefaultMetrics({ register })
}

/** Each loop's interval, to judge whether it still runs. */
function loopIntervals(ctx: ApiContext): Record<string, number> {
  const a = ctx.config.agent
  return {
    reaper: a.reapInterval,
    submitter: a.submitInterval,
    poller: a.pollInterval,
    retrier: a.retryInterval,
    killer: a.submitInterval,
    cleaner: a.cleanInterval,
    notifier: a.notifyInterval,
  }
}

/** Whether the store answers, within 5 s. */
async function pingStore(ctx: ApiContext): Promise<HealthResponse['store']> {
  try {
    await Promise.race([
      ctx.store.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5s')), 5000).unref()),
    ])
    return { ok: true }
  } catch (e) {
    return { ok: false, error: (e as Error).message }
  }
}

/** The loops every agent runs (the leader's singleton loops idle elsewhere): readiness looks at these. */
const EVERY_AGENT_LOOPS = ['reaper', 'submitter', 'poller', 'killer', 'notifier']

const readyResponseSchema = z.object({
  status: z.enum(['ready', 'not-ready']),
  store: z.object({ ok: z.boolean(), error: z.string().optional() }),
  /** this process's agent, when it runs one: started and not stopped, and the loops that stopped completing runs */
  agent: z.object({ running: z.boolean(), staleLoops: z.array(z.string()) }).optional(),
})
type ReadyResponse = z.infer<typeof readyResponseSchema>

/**
 * Whether this process can do its job: the store answers and, when it runs an agent, the agent runs and each
 * of its own loops completed a run lately. Other agents do not count: an API-only replica is ready alone.
 */
async function readiness(ctx: ApiContext): Promise<ReadyResponse> {
  const store = await pingStore(ctx)
  let agent: ReadyResponse['agent']
  if (ctx.agent) {
    const now = Date.now()
    const intervals = loopIntervals(ctx)
    const status = ctx.agent.loopStatus()
    const staleLoops = EVERY_AGENT_LOOPS.filter((name) => {
      const s = status[name]
      const staleAfter = STALE_INTERVALS * (intervals[name] ?? 60_000) + 60_000
      return s !== undefined && s.lastRunAt !== 0 && now - s.lastRunAt >= staleAfter
    })
    agent = { running: ctx.agent.isRunning?.() ?? true, staleLoops }
  }
  const ok = store.ok && (!agent || (agent.running && agent.staleLoops.length === 0))
  return { status: ok ? 'ready' : 'not-ready', store, ...(agent ? { agent } : {}) }
}

async function health(ctx: ApiContext): Promise<HealthResponse> {
  const now = Date.now()
  const store = await pingStore(ctx)
  const loops: HealthResponse['loops'] = {}
  if (ctx.agent) {
    const intervals = loopIntervals(ctx)
    for (const [name, s] of Object.entries(ctx.agent.loopStatus())) {
      const staleAfter = STALE_INTERVALS * (intervals[name] ?? 60_000) + 60_000
      const running = s.lastRunAt === 0 || now - s.lastRunAt < staleAfter
      loops[name] = {
        ok: running && s.lastError === null,
        lastRunAt: s.lastRunAt || null,
        lastError:
          s.lastError ?? (running ? null : `no run completed for ${Math.round((now - s.lastRunAt) / 1000)}s`),
      }
    }
  } else if (store.ok) {
    // API only: the agents elsewhere are judged by their heartbeats
    for (const a of await ctx.store.agents()) {
      const alive = a.stoppedAt === null && now - a.heartbeatAt < ctx.config.agent.lease
      loops[`agent ${a.id}`] = {
        ok: alive,
        lastRunAt: a.heartbeatAt,
        lastError: alive ? null : `no heartbeat for ${Math.round((now - a.heartbeatAt) / 1000)}s`,
      }
    }
  }
  const webhooks = store.ok ? await ctx.store.webhookBacklog() : undefined
  const loopsOk = Object.keys(loops).length > 0 && Object.values(loops).every((l) => l.ok)
  return {
    status: !store.ok ? 'down' : loopsOk ? 'ok' : 'degraded',
    store,
    loops,
    ...(webhooks ? { webhooks } : {}),
  }
}

export const healthMetricRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  collectProcessMetrics()
  // this server holds the fleet-metrics lease under a name of its own, never its agent's: releasing it must
  // not release the agent's leader lease
  const holder = `api:${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  app.addHook('onClose', async () => {
    // another target takes the store-wide gauges over at its next scrape
    await ctx.store.releaseLeases([holder]).catch(() => {})
  })

  app.route({
    method: 'GET',
    url: '/health',
    schema: {
      operationId: 'getHealth',
      summary: 'Health: the store answers and the agent loops run (200 ok, 503 otherwise)',
      tags: ['operations'],
      security: [],
      response: { 200: healthResponseSchema, 503: healthResponseSchema },
    },
    handler: async (_request, reply) => {
      const h = await health(ctx)
      return reply.code(h.status === 'ok' ? 200 : 503).send(h)
    },
  })

  app.route({
    method: 'GET',
    url: '/health/live',
    schema: {
      operationId: 'getLiveness',
      summary: 'Liveness: this process serves requests (always 200 while it does); for restart decisions',
      tags: ['operations'],
      security: [],
      response: { 200: z.object({ status: z.literal('live') }) },
    },
    handler: async () => ({ status: 'live' as const }),
  })

  app.route({
    method: 'GET',
    url: '/health/ready',
    schema: {
      operationId: 'getReadiness',
      summary:
        'Readiness: this process can do its job (the store answers; its agent, if it runs one, runs its loops): 200, else 503. An API-only replica needs no agent',
      tags: ['operations'],
      security: [],
      response: { 200: readyResponseSchema, 503: readyResponseSchema },
    },
    handler: async (_request, reply) => {
      const r = await readiness(ctx)
      return reply.code(r.status === 'ready' ? 200 : 503).send(r)
    },
  })

  app.route({
    method: 'GET',
    url: '/metrics',
    schema: {
      operationId: 'getMetrics',
      summary:
        'Prometheus metrics: this process’s counters (aso_*, process_*, nodejs_*); the store-wide gauges from one target of the fleet at a time (aso_fleet_exporter 1)',
      tags: ['operations'],
      security: [],
    },
    handler: async (_request, reply) => {
      const text = `${await register.metrics()}\n${await processGauges(ctx, holder)}`
      return reply.type(register.contentType).send(text)
    },
  })
}
