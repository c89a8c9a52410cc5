/**
 * `GET /health` (the store answers, the loops run) and `GET /metrics` (Prometheus, names prefixed `aso_`):
 * public, outside /api/v1, so load balancers and Prometheus need no credential. Gauges are computed from the
 * store's rollup (publication: its index of publishable files) at each scrape, once for all agents; the
 * agent's latency histograms and counters come from prom-client's default registry when the agent runs in
 * this process.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { Gauge, Registry, register } from 'prom-client'
import { type HealthResponse, healthResponseSchema } from '../contract/schemas.js'
import { IN_FLIGHT_STATES } from '../domain/states.js'
import { linkKey } from '../domain/transfer.js'
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
    'link',
  ])
  const queued = gauge('aso_link_queued', 'files waiting (NEW) per link', ['link'])
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
  const links = new Map<string, { active: number; queued: number }>()
  for (const r of rows) {
    const s = states.get(r.state) ?? { n: 0, bytes: 0 }
    s.n += r.n
    s.bytes += r.bytes
    states.set(r.state, s)
    const key = linkKey(r.source, r.destination)
    const l = links.get(key) ?? { active: 0, queued: 0 }
    if (IN_FLIGHT_STATES.includes(r.state)) l.active += r.n
    if (r.state === 'NEW') l.queued += r.n
    links.set(key, l)
  }
  for (const [state, s] of states) {
    transfers.set({ state }, s.n)
    bytes.set({ state }, s.bytes)
  }
  for (const c of classes) byClass.set({ state: c.state, class: c.failureClass }, c.n)
  for (const [link, l] of links) {
    active.set({ link }, l.active)
    queued.set({ link }, l.queued)
  }
  const total = [...states.values()].reduce((a, s) => a + s.n, 0)
  for (const [state, n] of Object.entries(withNotRequired(published, total))) publication.set({ state }, n)
  for (const [state, n] of Object.entries(blockStates)) blocks.set({ state }, n)
  webhooksPending.set(backlog.pending)
  webhooksFailed.set(backlog.failed)
  return registry.metrics()
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

async function health(ctx: ApiContext): Promise<HealthResponse> {
  const now = Date.now()
  let store: HealthResponse['store'] = { ok: true }
  try {
    await Promise.race([
      ctx.store.ping(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5s')), 5000).unref()),
    ])
  } catch (e) {
    store = { ok: false, error: (e as Error).message }
  }
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
  app.route({
    method: 'GET',
    url: '/health',
    schema: {
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
    url: '/metrics',
    schema: { summary: 'Prometheus metrics (names prefixed aso_)', tags: ['operations'], security: [] },
    handler: async (_request, reply) => {
      const text = `${await register.metrics()}\n${await storeGauges(ctx)}`
      return reply.type(register.contentType).send(text)
    },
  })
}
