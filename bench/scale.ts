import { execFile } from 'node:child_process'
import { mkdtemp, rm, statfs } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import Database from 'better-sqlite3'
import { CACHE_DIR, filledStore } from './support/fill.js'
import { InstantEngine } from './support/instant-engine.js'
import { agentPipeline } from './support/pipeline-run.js'
import { lineChartSvg, writeChart } from './support/plot.js'
import { type Figures, median } from './support/report.js'

const run = promisify(execFile)
const NEW_FILES = 5000

/** The submitter's selection for one queue, timed on a filled store (median of 50, ms). */
function selectionMs(dbFile: string): number {
  const db = new Database(dbFile, { readonly: true })
  const stmt = db.prepare(`select id, attempt, submissions from transfers where state = 'NEW' and source = 'A'
    and destination = ? and user = ? and grp = '' and role = '' order by priority desc, created_at, id limit 100`)
  const queues = db.prepare(
    `select source, destination, user, grp, role, n from transfer_counts where state = 'NEW' and n > 0`,
  )
  const times: number[] = []
  const waitingSite =
    (
      db.prepare(`select destination from transfer_counts where state = 'NEW' limit 1`).get() as
        | { destination: string }
        | undefined
    )?.destination ?? 'C'
  for (let i = 0; i < 50; i++) {
    const t = performance.now()
    queues.all()
    stmt.all(waitingSite, `user${i % 100}`)
    times.push(performance.now() - t)
  }
  db.close()
  return median(times)
}

async function measureAt(n: number, log: (l: string) => void) {
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-scale-'))
  try {
    const t = performance.now()
    const file = await filledStore(n, dir)
    log(`  ${n} records ready in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    const sel = selectionMs(file)
    await rm(dir, { recursive: true, force: true })
    const costs: number[] = []
    for (let r = 0; r < 2; r++) {
      const p = await agentPipeline(
        NEW_FILES,
        () => new InstantEngine(),
        {},
        async (d) => {
          await filledStore(n, d)
        },
      )
      costs.push(1e6 / p.filesPerSecond)
    }
    const cost = median(costs)
    log(`  ${n}: ${cost.toFixed(0)} µs/file for ${NEW_FILES} new files, selection ${sel.toFixed(3)} ms`)
    return { cost, sel }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** RSS of a real agent (child process) over a store of `n` waiting records, in MB. */
async function agentRss(n: number): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-rss-'))
  try {
    const file = n === 0 ? path.join(dir, 'aso.db') : await filledStore(n, dir, 'waiting')
    const { stdout } = await run(
      'node',
      ['--import', 'tsx', path.resolve('bench/support/rss-agent.ts'), file, '8'],
      {
        maxBuffer: 1 << 20,
      },
    )
    return (JSON.parse(stdout.trim().split('\n').at(-1)!) as { rssMB: number }).rssMB
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * scale: per-file cost and the submitter's selection query time with 10k, 100k and 1M records already in the
 * store (10M with --full, disk permitting); the agent's RSS with 1M waiting records.
 */
export async function benchScale(opts: { log(line: string): void; full: boolean }): Promise<Figures> {
  const sizes = [10_000, 100_000, 1_000_000]
  if (opts.full) {
    const fs = await statfs(tmpdir())
    const freeGB = (fs.bavail * fs.bsize) / 1e9
    if (freeGB < 40)
      opts.log(`10M: skipped: ${freeGB.toFixed(0)} GB free (needs 40 GB: cache ${CACHE_DIR} + a copy)`)
    else sizes.push(10_000_000)
  }
  const figures: Figures = {}
  const at = new Map<number, { cost: number; sel: number }>()
  for (const n of sizes) at.set(n, await measureAt(n, opts.log))
  const base = at.get(10_000)!
  for (const [n, m] of at) {
    const label = n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`
    figures[`scale.per-file-cost.${label}`] = {
      value: m.cost,
      unit: 'µs/file',
      baseline: base.cost,
      better: 'lower',
      note: `${NEW_FILES} new files through the agent with ${label} records in the store; baseline: at 10k`,
    }
    figures[`scale.selection.${label}`] = {
      value: m.sel,
      unit: 'ms',
      baseline: base.sel,
      better: 'lower',
      note: 'queue list + one queue claim candidate query; baseline: at 10k',
    }
  }
  const points = [...at.entries()].map(([x, m]) => ({ x, y: 1e6 / m.cost }))
  const charts = await writeChart(
    lineChartSvg(
      'Throughput against store size (SQLite, instant copies)',
      'records already in the store',
      'files/s (inject to DONE)',
      [{ label: 'files/s', color: '#1f77b4', points }],
    ),
    path.resolve('bench/scale'),
  )
  opts.log(`  chart: ${charts.join(', ')}`)
  const empty = await agentRss(0)
  const full = await agentRss(1_000_000)
  figures['scale.rss.1M-waiting'] = {
    value: full,
    unit: 'MB',
    baseline: empty,
    better: 'lower',
    note: 'agent process peak RSS over 8 s of loops; baseline: the same agent on an empty store',
  }
  return figures
}
