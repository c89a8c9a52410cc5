/**
 * Monitoring as Prometheus and Grafana users expect it (issue: monitoring, item 4), on real SQLite with the
 * built-in engine on file:// sites: per-link counters of files and bytes ended with source/destination labels,
 * process_* and nodejs_* metrics, the store-wide gauges from one target of a fleet, one info line per ended
 * transfer and per API request (none for polls), /health/live and /health/ready, and the Grafana dashboard of
 * docs/ using only metrics the app exports.
 */
import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { watchEndings } from '../../src/agent/metrics.js'
import { Agent } from '../../src/agent/runner.js'
import { ChangeSignal } from '../../src/api/change-signal.js'
import { type ApiServer, startApiServer } from '../../src/api/server.js'
import { requestContext } from '../../src/cli/app.js'
import { openCatalog } from '../../src/cli/catalog.js'
import { buildEngines } from '../../src/cli/engines.js'
import { loadConfig } from '../../src/config/load.js'
import { validateRequest } from '../../src/domain/request.js'
import { TERMINAL_STATES } from '../../src/domain/states.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

type Line = Record<string, unknown> & { msg: string }

/** One `aso serve` process of the test: its own store connection, optionally an agent, the API, its log lines. */
interface Node {
  url: string
  store: Store
  agent?: Agent
  server: ApiServer
  log: pino.Logger
  lines: Line[]
  inject(requests: Record<string, unknown>[]): Promise<string[]>
  close(): Promise<void>
}

const nodes: Node[] = []

async function startNode(lab: FileLab, opts: { agent: boolean }): Promise<Node> {
  const { config } = loadConfig({ path: lab.configPath })
  const store = await openStore(config.database)
  const sites = new SiteCatalog(config)
  const lines: Line[] = []
  // the log lines as pino writes them, one JSON object each
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Line) })
  let agent: Agent | undefined
  if (opts.agent) {
    const { engines, storage } = buildEngines(config, { store })
    agent = new Agent({ config, store, sites, engines, storage, catalog: openCatalog(config), log })
    await agent.start()
  }
  const server = await startApiServer({
    config,
    store,
    sites,
    insecureDev: true,
    listen: '127.0.0.1:0',
    changes: new ChangeSignal(),
    ...(agent ? { agent } : {}),
    log,
  })
  let closed = false
  const node: Node = {
    url: server.url,
    store,
    ...(agent ? { agent } : {}),
    server,
    log,
    lines,
    async inject(requests) {
      const ctx = requestContext(config, sites, { name: 'test', role: 'admin', groups: null, vomsRoles: [] })
      const items = requests.map((r) => {
        const v = validateRequest(r, ctx)
        if (!v.ok) throw new Error(`invalid test request: ${JSON.stringify(v.errors)}`)
        return { id: v.id, request: v.request }
      })
      const results = await store.inject(items, {
        now: Date.now(),
        actor: 'test',
        maxAttempts: config.retry.maxAttempts,
      })
      agent?.wake('submitter')
      return results.map((r) => r.id!)
    },
    async close() {
      if (closed) return
      closed = true
      await server.close()
      await agent?.stop()
      await store.close()
    },
  }
  nodes.push(node)
  return node
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const scrape = async (node: Node) => {
  const res = await fetch(`${node.url}/metrics`)
  expect(res.status).toBe(200)
  return res.text()
}

/** The value of one sample line, exactly as written (labels in the order the app writes them). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

/** Metric names the scrape declares (# TYPE), with the series names of histograms and summaries. */
function exportedNames(text: string): Set<string> {
  const names = new Set<string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    names.add(m[1]!)
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${m[1]}${s}`)
    if (m[2] === 'summary') for (const s of ['_sum', '_count']) names.add(`${m[1]}${s}`)
  }
  return names
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

describe('monitoring', () => {
  let labDir: string | undefined
  afterEach(async () => {
    if (labDir) await rm(labDir, { recursive: true, force: true })
    labDir = undefined
  })

  it('counts files and bytes ended per link (source, destination), logs each end and each request at info, and the Grafana dashboard uses only exported metrics', async () => {
    const lab = await makeFileLab({ sites: ['MON_A', 'MON_B'] })
    labDir = lab.dir
    const node = await startNode(lab, { agent: true })
    const reqs: Record<string, unknown>[] = []
    const sizes = [1000, 2000, 4000]
    for (const [i, size] of sizes.entries()) {
      const name = `m${i}.root`
      const w = await lab.writeOutput('MON_A', `/store/temp/user/alice.abc/${name}`, size)
      reqs.push(
        lab.request({ user: 'alice', source: 'MON_A', destination: 'MON_B', name, task: 'mon-task', ...w }),
      )
    }
    // the third one's source is gone: it fails at once (permanent-source)
    await rm(lab.path('MON_A', String(reqs[2]!.sourceLfn)))
    const ids = await node.inject(reqs)
    await waitFor(
      async () => (await node.store.counts()).every((c) => TERMINAL_STATES.includes(c.state) || c.n === 0),
      'three transfers ended',
    )

    const text = await scrape(node)
    const link = 'source="MON_A",destination="MON_B"'
    expect(sample(text, `aso_transfers_ended_total{${link},state="DONE",class=""}`)).toBe(2)
    expect(sample(text, `aso_transfers_ended_total{${link},state="FAILED",class="permanent-source"}`)).toBe(1)
    expect(sample(text, `aso_transfers_ended_bytes_total{${link},state="DONE"}`)).toBe(3000)
    expect(sample(text, `aso_transfers_ended_bytes_total{${link},state="FAILED"}`)).toBe(4000)
    // the store-wide gauges (this single target holds the fleet-metrics lease), per link by source and destination
    expect(sample(text, 'aso_fleet_exporter')).toBe(1)
    expect(sample(text, `aso_link_queued{${link}}`)).toBe(0)
    expect(sample(text, 'aso_transfers{state="DONE"}')).toBe(2)
    expect(text).not.toMatch(/\blink="/)
    // prom-client's default process metrics
    expect(text).toMatch(/^process_cpu_seconds_total \d/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d/m)
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m)
    expect(text).toMatch(/^# TYPE nodejs_eventloop_lag_seconds gauge$/m)

    // one info line per ended transfer, with what an operator searches by
    const ended = node.lines.filter((l) => l.msg === 'transfer ended')
    expect(ended.map((l) => l.transfer).sort()).toEqual([...ids].sort())
    for (const l of ended) {
      expect(l).toMatchObject({
        level: 30,
        user: 'alice',
        task: 'mon-task',
        source: 'MON_A',
        destination: 'MON_B',
      })
      expect(l.seconds).toBeGreaterThanOrEqual(0)
      expect(l.by).toBe(node.agent!.id)
    }
    const byId = new Map(ended.map((l) => [l.transfer, l]))
    expect(byId.get(ids[0]!)).toMatchObject({ state: 'DONE', class: null, bytes: 1000, attempt: 1 })
    expect(byId.get(ids[2]!)).toMatchObject({ state: 'FAILED', class: 'permanent-source', bytes: 4000 })

    // one line per API request, path without its query; none for /health* and /metrics polls
    const before = node.lines.length
    for (const p of ['/health', '/health/live', '/health/ready', '/metrics'])
      await (await fetch(node.url + p)).text()
    const who = await fetch(`${node.url}/api/v1/whoami?access_token=s3cret`, {
      headers: { 'x-aso-user': 'alice' },
    })
    await who.text()
    await waitFor(async () => node.lines.some((l) => l.msg === 'request'), 'the request line')
    const logged = node.lines.slice(before).filter((l) => l.msg === 'request')
    expect(logged).toHaveLength(1)
    expect(logged[0]).toMatchObject({
      level: 30,
      method: 'GET',
      path: '/api/v1/whoami',
      status: who.status,
      user: 'alice',
    })
    expect(JSON.stringify(node.lines)).not.toContain('s3cret')

    // the dashboard of docs/: every metric its expressions use is one this app exports
    const dashboard = JSON.parse(readFileSync('docs/grafana-aso.json', 'utf8')) as {
      panels: { targets?: { expr?: string }[] }[]
      templating: { list: { type: string; name: string }[] }
    }
    expect(dashboard.templating.list.some((v) => v.type === 'datasource')).toBe(true)
    const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''))
    expect(exprs.length).toBeGreaterThan(5)
    const names = exportedNames(text)
    for (const expr of exprs) {
      const used = [...expr.matchAll(/\b(?:aso|process|nodejs)_[a-z0-9_]+/g)].map((m) => m[0])
      expect(used.length, expr).toBeGreaterThan(0)
      for (const name of used) expect(names, `${name} in ${expr}`).toContain(name)
    }
  })

  it('two agents on one store: the store-wide gauges come from one target at a time, each process its own counters', async () => {
    const lab = await makeFileLab({ sites: ['FLEET_A', 'FLEET_B'] })
    labDir = lab.dir
    const a = await startNode(lab, { agent: true })
    const b = await startNode(lab, { agent: true })
    const w = await lab.writeOutput('FLEET_A', '/store/temp/user/bob.abc/x.root', 1500)
    const [id] = await a.inject([
      lab.request({
        user: 'bob',
        source: 'FLEET_A',
        destination: 'FLEET_B',
        name: 'x.root',
        task: 'fleet',
        ...w,
      }),
    ])
    b.agent!.wake('submitter')
    await waitFor(async () => (await a.store.get(id!))?.state === 'DONE', 'the file DONE')

    const [ta, tb] = [await scrape(a), await scrape(b)]
    // one exporter: summed over targets, the gauges count each file once
    expect(sample(ta, 'aso_fleet_exporter')).toBe(1)
    expect(sample(tb, 'aso_fleet_exporter')).toBe(0)
    expect(ta).toMatch(/^aso_webhooks_pending \d+$/m)
    expect(tb).not.toMatch(
      /^aso_(transfers|transfer_bytes|link_active|link_queued|webhooks_pending|publication_files)\b/m,
    )
    // one leader among the agents
    expect((sample(ta, 'aso_agent_leader') ?? 0) + (sample(tb, 'aso_agent_leader') ?? 0)).toBe(1)
    // the process-wide counters (both agents run in this test's process): the file counted once
    const series = 'aso_transfers_ended_total{source="FLEET_A",destination="FLEET_B",state="DONE",class=""}'
    expect(sample(ta, series)).toBe(1)
    const endedLines = [...a.lines, ...b.lines].filter((l) => l.msg === 'transfer ended' && l.transfer === id)
    expect(endedLines).toHaveLength(1)

    // the exporter's server goes away: the next scrape of the other takes the gauges over; the leader lease
    // (an agent's) stays where it was
    const leaderBefore = (await a.store.leases()).find((l) => l.name === 'leader')?.holder
    expect([a.agent!.id, b.agent!.id]).toContain(leaderBefore)
    await a.server.close()
    expect((await a.store.leases()).find((l) => l.name === 'leader')?.holder).toBe(leaderBefore)
    const after = await scrape(b)
    expect(sample(after, 'aso_fleet_exporter')).toBe(1)
    expect(sample(after, 'aso_transfers{state="DONE"}')).toBe(1)

    // readiness follows this process's own agent: running, then stopped
    const ready = await fetch(`${b.url}/health/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({
      status: 'ready',
      store: { ok: true },
      agent: { running: true, staleLoops: [] },
    })
    await b.agent!.stop()
    const stopped = await fetch(`${b.url}/health/ready`)
    expect(stopped.status).toBe(503)
    expect(await stopped.json()).toMatchObject({ status: 'not-ready', agent: { running: false } })
    expect((await fetch(`${b.url}/health/live`)).status).toBe(200)
  })

  it('an API-only replica with no agent running is live and ready; /health keeps its meaning (degraded)', async () => {
    const lab = await makeFileLab({ sites: ['LONE_A', 'LONE_B'] })
    labDir = lab.dir
    const api = await startNode(lab, { agent: false })
    const live = await fetch(`${api.url}/health/live`)
    expect(live.status).toBe(200)
    expect(await live.json()).toEqual({ status: 'live' })
    const ready = await fetch(`${api.url}/health/ready`)
    expect(ready.status).toBe(200)
    expect(await ready.json()).toEqual({ status: 'ready', store: { ok: true } })
    // the fleet's health, as before: no agent anywhere
    const health = await fetch(`${api.url}/health`)
    expect(health.status).toBe(503)
    expect(await health.json()).toMatchObject({ status: 'degraded', store: { ok: true }, loops: {} })
    // the OpenAPI document names the new routes
    const doc = (await (await fetch(`${api.url}/api/openapi.json`)).json()) as {
      paths: Record<string, { get?: { operationId?: string } }>
    }
    expect(doc.paths['/health/live']?.get?.operationId).toBe('getLiveness')
    expect(doc.paths['/health/ready']?.get?.operationId).toBe('getReadiness')
    // its /metrics: process metrics, no agent gauge; the fleet gauges since no other target holds them
    const text = await scrape(api)
    expect(text).toMatch(/^process_cpu_seconds_total \d/m)
    expect(text).not.toMatch(/^aso_agent_leader/m)
    expect(sample(text, 'aso_fleet_exporter')).toBe(1)

    // a kill through this replica (no agent) ends a queued file: counted and logged here, as aso serve sets up
    watchEndings(api.store, api.log)
    const w = await lab.writeOutput('LONE_A', '/store/temp/user/carol.abc/k.root', 700)
    const [id] = await api.inject([
      lab.request({
        user: 'carol',
        source: 'LONE_A',
        destination: 'LONE_B',
        name: 'k.root',
        task: 'lone',
        ...w,
      }),
    ])
    expect(await api.store.kill({ ids: [id!] }, 'killed by carol', Date.now(), 'carol')).toMatchObject({
      killed: 1,
    })
    const killed = await scrape(api)
    const link = 'source="LONE_A",destination="LONE_B"'
    expect(sample(killed, `aso_transfers_ended_total{${link},state="KILLED",class="killed"}`)).toBe(1)
    expect(sample(killed, `aso_transfers_ended_bytes_total{${link},state="KILLED"}`)).toBe(700)
    expect(api.lines.filter((l) => l.msg === 'transfer ended')).toMatchObject([
      { transfer: id, state: 'KILLED', class: 'killed', by: 'carol', bytes: 700, attempt: 1 },
    ])
  })
})
