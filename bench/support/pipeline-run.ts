import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import pino from 'pino'
import { Agent } from '../../src/agent/runner.js'
import { requestContext } from '../../src/cli/app.js'
import { parseConfig, resolvePaths } from '../../src/config/load.js'
import { validateRequest } from '../../src/domain/request.js'
import type { TransferEngine } from '../../src/engines/types.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { openStore } from '../../src/store/open.js'
import type { InjectItem } from '../../src/store/ops/inject.js'
import type { Store } from '../../src/store/store.js'

export const BATCH = 1000
const USERS = 10

/** A fresh directory with two file:// sites and a config tuned for throughput (no source clean-up). */
export async function benchConfig(extra: Record<string, unknown> = {}) {
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-bench-'))
  const config = resolvePaths(
    parseConfig({
      database: `sqlite:${dir}/aso.db`,
      sites: {
        A: { protocols: [{ scheme: 'file', prefix: `${dir}/A` }] },
        B: { protocols: [{ scheme: 'file', prefix: `${dir}/B` }] },
      },
      links: { default: { maxActive: BATCH, maxFilesPerJob: 100 } },
      cleanup: { deleteSourceOnDone: false },
      agent: { submitInterval: '50ms', batchSize: BATCH },
      ...extra,
    }),
    dir,
  )
  return { dir, config, cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** Validated inject items for files `from`..`to`, spread over ten users on one link. */
export function benchItems(config: ReturnType<typeof parseConfig>, from: number, to: number): InjectItem[] {
  const ctx = requestContext(config, new SiteCatalog(config), {
    name: 'bench',
    role: 'admin',
    groups: null,
    vomsRoles: [],
  })
  const items: InjectItem[] = []
  for (let j = from; j < to; j++) {
    const u = `user${j % USERS}`
    const v = validateRequest(
      {
        user: u,
        task: `task${j % 50}`,
        jobId: j,
        source: 'A',
        sourceLfn: `/store/temp/user/${u}.x/f${j}.root`,
        destination: 'B',
        destinationLfn: `/store/user/${u}/f${j}.root`,
        size: 1000 + j,
        checksums: { adler32: (j + 1).toString(16) },
      },
      ctx,
    )
    if (!v.ok) throw new Error(JSON.stringify(v.errors))
    items.push({ id: v.id, request: v.request })
  }
  return items
}

async function doneCount(store: Store): Promise<number> {
  return (await store.counts()).filter((c) => c.state === 'DONE').reduce((a, c) => a + c.n, 0)
}

/**
 * Files per second from the first inject to the last DONE through the real agent loops and store, with
 * `engine` doing the copies; the items are prepared (validated) before the clock starts.
 */
export async function agentPipeline(
  n: number,
  engine: (config: ReturnType<typeof parseConfig>) => TransferEngine,
  extra: Record<string, unknown> = {},
  /** runs before the store is opened, e.g. to put a filled database at `${dir}/aso.db` */
  prepare?: (dir: string) => Promise<void>,
): Promise<{ filesPerSecond: number; seconds: number }> {
  const { config, cleanup, dir } = await benchConfig(extra)
  await prepare?.(dir)
  const store = await openStore(config.database, {
    policy: { deleteSourceOnDone: false, tempRetention: 1e12 },
  })
  const batches: InjectItem[][] = []
  for (let i = 0; i < n; i += BATCH) batches.push(benchItems(config, i, Math.min(n, i + BATCH)))
  const sites = new SiteCatalog(config)
  const agent = new Agent({
    config,
    store,
    sites,
    engines: new Map([['local', engine(config)]]),
    storage: new StorageRegistry(),
    log: pino({ level: 'warn' }),
  })
  // the store tells of each record that ended once its transaction committed: the clock stops at the last
  // DONE, with no polling beside the agent (a filled store's older DONE records are not told again)
  let done = 0
  let allDone!: () => void
  const finished = new Promise<void>((r) => {
    allDone = r
  })
  const stopListening = store.onEnded((ended) => {
    done += ended.filter((e) => e.state === 'DONE').length
    if (done >= n) allDone()
  })
  await agent.start()
  const t0 = performance.now()
  for (const b of batches) {
    await store.inject(b, { now: Date.now(), actor: 'bench', maxAttempts: 3 })
    agent.wake('submitter')
  }
  await finished
  const seconds = (performance.now() - t0) / 1000
  stopListening()
  if ((await doneCount(store)) < n) throw new Error('the store counts fewer DONE records than it told of')
  await agent.stop()
  await store.close()
  await cleanup()
  return { filesPerSecond: n / seconds, seconds }
}

/**
 * The floor: the same SQLite writes (inserts, guarded updates, history rows, rollup upserts, engine-job
 * rows) in the same batch sizes, by a minimal synchronous loop of prepared statements on the same schema.
 */
export async function sqliteFloor(n: number): Promise<{ filesPerSecond: number; seconds: number }> {
  const { config, cleanup } = await benchConfig()
  const store = await openStore(config.database)
  const batches: InjectItem[][] = []
  for (let i = 0; i < n; i += BATCH) batches.push(benchItems(config, i, Math.min(n, i + BATCH)))
  await store.close()
  const db = new Database(config.database.slice('sqlite:'.length))
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('cache_size = -32768')
  const insert =
    db.prepare(`insert into transfers (id, user, grp, role, task, job_id, job_retry, type, source, source_lfn,
    destination, destination_lfn, size, adler32, priority, activity, publish, dataset, callback_url, state, attempt,
    max_attempts, submissions, supersede_pending, created_at, updated_at, source_cleanup, publication_state)
    values (?, ?, '', '', ?, ?, 0, 'output', 'A', ?, 'B', ?, ?, ?, 3, 'ASO', 0, null, null, 'NEW', 1, 3, 0, 0, ?, ?, 'NONE', 'NOT_REQUIRED')
    returning seq`)
  const event =
    db.prepare(`insert into events (at, transfer_seq, transfer_id, user, task, from_state, to_state, reason,
    attempt, engine_job_id, actor) values (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 'floor')`)
  const count =
    db.prepare(`insert into transfer_counts (user, grp, role, source, destination, state, n, bytes)
    values (?, '', '', 'A', 'B', ?, ?, ?) on conflict (source, destination, user, grp, role, state)
    do update set n = n + excluded.n, bytes = bytes + excluded.bytes`)
  // the dashboard's rollups (migration 0004): per task, and per time bucket at the terminal transition
  const taskCount =
    db.prepare(`insert into task_counts (task, user, n_new, n_submitting, n_submitted, n_retry,
    n_killing, n_done, n_failed, n_killed, bytes, done_bytes) values (?, ?, ?, ?, ?, 0, 0, ?, 0, 0, 0, 0)
    on conflict (task, user) do update set n_new = n_new + excluded.n_new,
    n_submitting = n_submitting + excluded.n_submitting, n_submitted = n_submitted + excluded.n_submitted,
    n_done = n_done + excluded.n_done`)
  const tasks = (items: InjectItem[], d: [number, number, number, number]) => {
    const per = new Map<string, [string, string, number]>()
    for (const { request: r } of items) {
      const k = `${r.task}\0${r.user}`
      const e = per.get(k) ?? [r.task, r.user, 0]
      e[2]++
      per.set(k, e)
    }
    for (const [task, user, n] of per.values())
      taskCount.run(task, user, d[0] * n, d[1] * n, d[2] * n, d[3] * n)
  }
  const minute = db.prepare(`insert into transfer_minutes (minute, source, destination, user, state,
    failure_class, files, bytes) values (?, 'A', 'B', ?, 'DONE', '', ?, 0) on conflict do update
    set files = files + excluded.files`)
  const hour = db.prepare(`insert into transfer_hours (hour, source, destination, state, failure_class, files,
    bytes) values (?, 'A', 'B', 'DONE', '', ?, 0) on conflict do update set files = files + excluded.files`)
  const userHour =
    db.prepare(`insert into user_hours (user, hour, state, files, bytes) values (?, ?, 'DONE', ?, 0)
    on conflict do update set files = files + excluded.files`)
  const claim =
    db.prepare(`update transfers set state = 'SUBMITTING', submissions = submissions + 1, engine = 'local',
    engine_job_id = ?, agent_id = 'floor', updated_at = ? where id = ? and state = 'NEW' returning seq`)
  const job =
    db.prepare(`insert into engine_jobs (job_id, engine, agent_id, user, grp, role, source, destination, state,
    files, created_at, last_polled_at, last_progress_at) values (?, 'local', 'floor', ?, '', '', 'A', 'B', 'SUBMITTING', ?, ?, ?, ?)`)
  const submitted = db.prepare(`update transfers set state = 'SUBMITTED', submitted_at = ?, updated_at = ?
    where id = ? and state = 'SUBMITTING' and engine_job_id = ?`)
  const jobState = db.prepare(`update engine_jobs set state = ?, submitted_at = ? where job_id = ?`)
  const done =
    db.prepare(`update transfers set state = 'DONE', finished_at = ?, updated_at = ?, method = 'instant'
    where id = ? and state = 'SUBMITTED' and engine_job_id = ?`)
  const t0 = performance.now()
  for (const [b, items] of batches.entries()) {
    const now = Date.now()
    const seqs: number[] = []
    db.transaction(() => {
      for (const { id, request: r } of items) {
        const { seq } = insert.get(
          id,
          r.user,
          r.task,
          r.jobId,
          r.sourceLfn,
          r.destinationLfn,
          r.size,
          r.checksums.adler32,
          now,
          now,
        ) as { seq: number }
        seqs.push(seq)
        event.run(now, seq, id, r.user, r.task, null, 'NEW', 'injected', null)
      }
      for (let u = 0; u < USERS; u++) count.run(`user${u}`, 'NEW', items.length / USERS, 0)
      tasks(items, [1, 0, 0, 0])
    })()
    const jobs: { jobId: string; members: number[] }[] = []
    db.transaction(() => {
      for (let j = 0; j < items.length; j += 100) {
        const jobId = `job-${b}-${j}`
        const members: number[] = []
        for (let k = j; k < Math.min(items.length, j + 100); k++) {
          const { id, request: r } = items[k]!
          claim.get(jobId, now, id)
          event.run(
            now,
            seqs[k],
            id,
            r.user,
            r.task,
            'NEW',
            'SUBMITTING',
            `claimed for engine job ${jobId}`,
            jobId,
          )
          members.push(k)
        }
        job.run(jobId, items[j]!.request.user, members.length, now, now, now)
        jobs.push({ jobId, members })
      }
      for (let u = 0; u < USERS; u++) {
        count.run(`user${u}`, 'NEW', -items.length / USERS, 0)
        count.run(`user${u}`, 'SUBMITTING', items.length / USERS, 0)
      }
      tasks(items, [-1, 1, 0, 0])
    })()
    for (const [to, stmt, jobTo] of [
      ['SUBMITTED', submitted, 'SUBMITTED'],
      ['DONE', done, 'FINISHED'],
    ] as const) {
      db.transaction(() => {
        for (const { jobId, members } of jobs) {
          for (const k of members) {
            const { id, request: r } = items[k]!
            stmt.run(now, now, id, jobId)
            event.run(
              now,
              seqs[k],
              id,
              r.user,
              r.task,
              to === 'DONE' ? 'SUBMITTED' : 'SUBMITTING',
              to,
              to,
              jobId,
            )
          }
          jobState.run(jobTo, now, jobId)
        }
        for (let u = 0; u < USERS; u++) {
          count.run(`user${u}`, to === 'DONE' ? 'SUBMITTED' : 'SUBMITTING', -items.length / USERS, 0)
          count.run(`user${u}`, to, items.length / USERS, 0)
          if (to === 'DONE') {
            minute.run(Math.floor(now / 60_000) * 60_000, `user${u}`, items.length / USERS)
            userHour.run(`user${u}`, Math.floor(now / 3_600_000) * 3_600_000, items.length / USERS)
          }
        }
        if (to === 'DONE') hour.run(Math.floor(now / 3_600_000) * 3_600_000, items.length)
        tasks(items, to === 'DONE' ? [0, 0, -1, 1] : [0, -1, 1, 0])
      })()
    }
  }
  const seconds = (performance.now() - t0) / 1000
  db.close()
  await cleanup()
  return { filesPerSecond: n / seconds, seconds }
}
