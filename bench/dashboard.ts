/**
 * The dashboard's API calls at 1,000,000 records against 10,000 (the baseline, same process): each page's
 * calls answered by the real API (in process, app.inject, as an operator who sees everyone's numbers), timed
 * over 30 calls after a warm-up: median and p95 in ms. The target is under 200 ms per call at 1M.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { buildApiServer } from '../src/api/server.js'
import { loadConfig } from '../src/config/load.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { openStore } from '../src/store/open.js'
import { DASHBOARD_END, filledStore } from './support/fill.js'
import { type Figures, median, percentile } from './support/report.js'

const CALLS = 30
const WARMUP = 3
/** What each page asks when it opens (the overview page asks two things). */
const ENDPOINTS: Record<string, string> = {
  overview: '/api/v1/dashboard/overview',
  'timeseries-hour': '/api/v1/dashboard/timeseries?range=hour',
  'timeseries-week': '/api/v1/dashboard/timeseries?range=week',
  links: '/api/v1/dashboard/links',
  problems: '/api/v1/dashboard/problems',
  tasks: '/api/v1/tasks?limit=50',
  'tasks-search': '/api/v1/tasks?limit=50&q=task19',
}

async function timings(n: number, log: (l: string) => void): Promise<Map<string, number[]>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-bench-dashboard-'))
  try {
    const t = performance.now()
    const file = await filledStore(n, dir, 'dashboard')
    log(`  ${n} records ready in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    const configPath = path.join(dir, 'aso.yaml')
    await writeFile(configPath, 'users:\n  ops: { role: operator }\n')
    const { config } = loadConfig({ path: configPath, env: {} })
    const store = await openStore(`sqlite:${file}`)
    const app = await buildApiServer({
      config,
      store,
      sites: new SiteCatalog(config),
      insecureDev: true,
      // the filled week ends there: the dashboard's windows see it
      now: () => DASHBOARD_END,
      webRoot: null,
    })
    const out = new Map<string, number[]>()
    try {
      for (const [name, url] of Object.entries(ENDPOINTS)) {
        const times: number[] = []
        for (let i = 0; i < WARMUP + CALLS; i++) {
          const start = performance.now()
          const r = await app.inject({ method: 'GET', url, headers: { 'x-aso-user': 'ops' } })
          const ms = performance.now() - start
          if (r.statusCode !== 200) throw new Error(`${url} answered ${r.statusCode}: ${r.body}`)
          if (i >= WARMUP) times.push(ms)
        }
        out.set(name, times)
        log(
          `  ${n}: ${name} median ${median(times).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms`,
        )
      }
    } finally {
      await app.close()
      await store.close()
    }
    return out
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

export async function benchDashboard(opts: { log(line: string): void }): Promise<Figures> {
  const base = await timings(10_000, opts.log)
  const big = await timings(1_000_000, opts.log)
  const figures: Figures = {}
  for (const name of Object.keys(ENDPOINTS)) {
    const b = base.get(name)!
    const x = big.get(name)!
    figures[`${name} median at 1M`] = { value: median(x), unit: 'ms', baseline: median(b), better: 'lower' }
    figures[`${name} p95 at 1M`] = {
      value: percentile(x, 95),
      unit: 'ms',
      baseline: percentile(b, 95),
      better: 'lower',
      note: percentile(x, 95) < 200 ? 'under 200 ms' : 'OVER 200 ms',
    }
  }
  return figures
}
