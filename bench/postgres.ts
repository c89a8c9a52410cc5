/**
 * postgres: the per-file cost of ASO's own work (inject → claim → submit → outcome → DONE, through the real
 * agent loops and store, the engine completing every copy at once) on PostgreSQL with one agent and with three
 * agents sharing the database, against SQLite with one agent. Each PostgreSQL run gets a fresh database on a
 * server this benchmark starts (fsync on, synchronous_commit off: a commit survives a crash of ASO, as SQLite's
 * WAL with synchronous=NORMAL does). Three agents run as three processes (and, for comparison, inside this
 * process, each with its own pool and engine).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { Agent } from '../src/agent/runner.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { StorageRegistry } from '../src/storage/registry.js'
import { openStore } from '../src/store/open.js'
import type { InjectItem } from '../src/store/ops/inject.js'
import type { Store } from '../src/store/store.js'
import { startTestPostgres, type TestPostgres } from '../test/support/postgres.js'
import { InstantEngine } from './support/instant-engine.js'
import { BATCH, benchConfig, benchItems } from './support/pipeline-run.js'
import { type Figures, median } from './support/report.js'

const quiet = { warn() {}, info() {} }

async function doneCount(store: Store): Promise<number> {
  return (await store.counts()).filter((c) => c.state === 'DONE').reduce((a, c) => a + c.n, 0)
}

/** Seconds from the first inject to the last DONE with `agents` agents on `database` (null: SQLite). */
async function run(n: number, agents: number, database: string | null): Promise<number> {
  const { config, cleanup } = await benchConfig(database ? { database } : {})
  const policy = { deleteSourceOnDone: false, tempRetention: 1e12 }
  const stores: Store[] = []
  for (let i = 0; i < agents; i++) stores.push(await openStore(config.database, { policy, log: quiet }))
  const batches: InjectItem[][] = []
  for (let i = 0; i < n; i += BATCH) batches.push(benchItems(config, i, Math.min(n, i + BATCH)))
  const sites = new SiteCatalog(config)
  const running = stores.map(
    (store) =>
      new Agent({
        config,
        store,
        sites,
        engines: new Map([['local', new InstantEngine()]]),
        storage: new StorageRegistry(),
        log: pino({ level: 'warn' }),
      }),
  )
  for (const a of running) await a.start()
  const t0 = performance.now()
  for (const b of batches) {
    await stores[0]!.inject(b, { now: Date.now(), actor: 'bench', maxAttempts: 3 })
    for (const a of running) a.wake('submitter')
  }
  while ((await doneCount(stores[0]!)) < n) await new Promise((r) => setTimeout(r, 5))
  const seconds = (performance.now() - t0) / 1000
  for (const a of running) await a.stop()
  for (const s of stores) await s.close()
  await cleanup()
  return seconds
}

const AGENT_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'support/pg-bench-agent.ts')

/** Seconds from the first inject to the last DONE with `agents` agent processes on PostgreSQL `database`. */
async function runProcesses(n: number, agents: number, database: string): Promise<number> {
  const { config, cleanup, dir } = await benchConfig({ database })
  const store = await openStore(config.database, {
    policy: { deleteSourceOnDone: false, tempRetention: 1e12 },
    log: quiet,
  })
  // the same settings as benchConfig, for the children (they parse it themselves)
  const raw = {
    database,
    sites: {
      A: { protocols: [{ scheme: 'file', prefix: `${dir}/A` }] },
      B: { protocols: [{ scheme: 'file', prefix: `${dir}/B` }] },
    },
    links: { default: { maxActive: BATCH, maxFilesPerJob: 100 } },
    cleanup: { deleteSourceOnDone: false },
    agent: { submitInterval: '50ms', batchSize: BATCH },
  }
  const batches: InjectItem[][] = []
  for (let i = 0; i < n; i += BATCH) batches.push(benchItems(config, i, Math.min(n, i + BATCH)))
  const children: ChildProcess[] = []
  try {
    for (let i = 0; i < agents; i++) {
      const child = spawn(process.execPath, ['--import', 'tsx', AGENT_SCRIPT, JSON.stringify(raw)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      children.push(child)
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`bench agent exited (${code}) before it was ready`)))
        child.stdout!.once('data', () => resolve())
      })
    }
    const t0 = performance.now()
    for (const b of batches) await store.inject(b, { now: Date.now(), actor: 'bench', maxAttempts: 3 })
    while ((await doneCount(store)) < n) await new Promise((r) => setTimeout(r, 5))
    return (performance.now() - t0) / 1000
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null) return resolve()
            c.removeAllListeners('exit')
            c.once('exit', () => resolve())
            c.kill('SIGTERM')
          }),
      ),
    )
    await store.close()
    await cleanup()
  }
}

/** µs of ASO's own work per file on PostgreSQL (1 and 3 agents) and SQLite (1 agent), median of `runs`. */
export async function benchPostgres(opts: {
  log(line: string): void
  files?: number
  runs?: number
}): Promise<Figures> {
  const n = opts.files ?? 10_000
  const runs = opts.runs ?? 3
  let server: TestPostgres | null = null
  const cost = { sqlite: [] as number[], pg1: [] as number[], pg3: [] as number[], pg3p: [] as number[] }
  try {
    server = await startTestPostgres({
      settings: { fsync: 'on', synchronous_commit: 'off', full_page_writes: 'on' },
    })
    let db = 0
    const fresh = async () => server!.createDatabase(`bench_${++db}`)
    const us = (seconds: number) => (seconds * 1e6) / n
    // alternate, so machine noise hits every side alike
    for (let r = 0; r < runs; r++) {
      cost.sqlite.push(us(await run(n, 1, null)))
      cost.pg1.push(us(await run(n, 1, await fresh())))
      cost.pg3.push(us(await run(n, 3, await fresh())))
      cost.pg3p.push(us(await runProcesses(n, 3, await fresh())))
      opts.log(
        `  run ${r + 1}: SQLite 1 agent ${cost.sqlite.at(-1)!.toFixed(0)} µs/file; PostgreSQL 1 agent ` +
          `${cost.pg1.at(-1)!.toFixed(0)} µs/file, 3 agents in one process ${cost.pg3.at(-1)!.toFixed(0)} µs/file, ` +
          `3 agent processes ${cost.pg3p.at(-1)!.toFixed(0)} µs/file`,
      )
    }
    // deadlocks cost a second each (deadlock_timeout) before PostgreSQL picks a victim, which then runs again
    const stats = await server.query(
      `select coalesce(sum(deadlocks), 0)::int as deadlocks, coalesce(sum(xact_rollback), 0)::int as rollbacks
       from pg_stat_database where datname like 'bench_%'`,
    )
    opts.log(
      `  PostgreSQL: ${stats.rows[0]?.deadlocks} deadlocks, ${stats.rows[0]?.rollbacks} rolled-back transactions in all runs`,
    )
  } finally {
    await server?.remove()
  }
  const note = `${n} files, 10 users, one link, instant engine, median of ${runs}`
  return {
    'postgres.1-agent': {
      value: median(cost.pg1),
      unit: 'µs/file',
      baseline: median(cost.sqlite),
      better: 'lower',
      note: `${note}; baseline: SQLite, 1 agent`,
    },
    'postgres.3-agents': {
      value: median(cost.pg3p),
      unit: 'µs/file',
      baseline: median(cost.pg1),
      better: 'lower',
      note: `${note}; baseline: PostgreSQL, 1 agent; 3 agent processes`,
    },
    'postgres.3-agents-one-process': {
      value: median(cost.pg3),
      unit: 'µs/file',
      baseline: median(cost.pg1),
      better: 'lower',
      note: `${note}; baseline: PostgreSQL, 1 agent; 3 agents sharing one Node process`,
    },
    'sqlite.1-agent': { value: median(cost.sqlite), unit: 'µs/file', better: 'lower', note },
  }
}
