import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import {
  HOUR_BUCKET_RETENTION_MS,
  MINUTE_BUCKET_RETENTION_MS,
} from '../../src/store/migrations/0004-dashboard-rollups.js'
import { openStore } from '../../src/store/open.js'

/** Where filled stores are kept between runs (they take minutes to make at 10M). */
export const CACHE_DIR = path.resolve('bench/.cache')

/**
 * What a filled store holds. `history`: 98 % DONE with their four history rows (A->B, 100 users), 2 % waiting
 * on a paused link A->C. `waiting`: every record NEW on A->B, waiting to be submitted. `dashboard`: the week
 * before DASHBOARD_END on 12 links (3 sources × 4 destinations) of 100 users: 97.9 % DONE, 1 % FAILED (three
 * classes), 1 % waiting (one link paused), 0.1 % in open engine jobs; ended files spread evenly over the week.
 * Every profile's rollups (transfer_counts, task_counts, time buckets) are filled from its records.
 */
export type FillProfile = 'history' | 'waiting' | 'dashboard'

/** The end of the `dashboard` profile's week: its time buckets are relative to it (a clock fixed there sees them). */
export const DASHBOARD_END = Date.UTC(2026, 0, 8)

/** A store with `n` records filled with set-based SQL, cached under bench/.cache; returns a fresh copy's path. */
export async function filledStore(
  n: number,
  into: string,
  profile: FillProfile = 'history',
): Promise<string> {
  await mkdir(CACHE_DIR, { recursive: true })
  const cached = path.join(CACHE_DIR, `${profile}-${n}.db`)
  const exists = await stat(cached).then(
    () => true,
    () => false,
  )
  if (!exists) await fill(cached, n, profile)
  // a cache made before a schema change is migrated once, here (migrations count existing records in)
  await (await openStore(`sqlite:${cached}`)).close()
  const target = path.join(into, 'aso.db')
  await copyFile(cached, target)
  return target
}

async function fill(file: string, n: number, profile: FillProfile): Promise<void> {
  const tmp = `${file}.tmp`
  // an interrupted fill leaves its half-made file: start over rather than insert into it again
  for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) await rm(f, { force: true })
  const store = await openStore(`sqlite:${tmp}`)
  await store.close()
  const db = new Database(tmp)
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
  if (profile === 'dashboard') {
    fillDashboard(db, n)
    db.close()
    await rename(tmp, file)
    return
  }
  const t0 = Date.UTC(2026, 0, 1)
  // which records wait: one in fifty, or all of them
  const waits = profile === 'waiting' ? '1' : 'i % 50 = 0'
  const waitingSite = profile === 'waiting' ? 'B' : 'C'
  const CHUNK = 1_000_000
  for (let from = 0; from < n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK) - 1
    db.exec(`
      WITH RECURSIVE g(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM g WHERE i < ${to})
      INSERT INTO transfers (id, user, grp, role, task, job_id, job_retry, type, source, source_lfn, destination,
        destination_lfn, size, adler32, priority, activity, publish, state, attempt, max_attempts, submissions,
        engine, engine_job_id, supersede_pending, created_at, updated_at, submitted_at, finished_at,
        source_cleanup, publication_state, method)
      SELECT printf('%016x%016x', i, (i * 2654435761) % 4294967296), 'user' || (i % 100), '', '',
        'task' || (i / 500), i, 0, 'output', 'A', '/store/temp/user/user' || (i % 100) || '.x/fill' || i,
        CASE WHEN ${waits} THEN '${waitingSite}' ELSE 'B' END, '/store/user/user' || (i % 100) || '/fill' || i,
        100000 + i % 1000, '00000001', 3, 'ASO', 0, CASE WHEN ${waits} THEN 'NEW' ELSE 'DONE' END, 1, 3,
        CASE WHEN ${waits} THEN 0 ELSE 1 END, CASE WHEN ${waits} THEN NULL ELSE 'local' END,
        CASE WHEN ${waits} THEN NULL ELSE 'fill-job-' || (i / 100) END, 0, ${t0} + i, ${t0} + i + 5000,
        CASE WHEN ${waits} THEN NULL ELSE ${t0} + i + 1000 END, CASE WHEN ${waits} THEN NULL ELSE ${t0} + i + 5000 END,
        CASE WHEN ${waits} THEN 'NONE' ELSE 'DONE' END, 'NOT_REQUIRED', CASE WHEN ${waits} THEN NULL ELSE 'file-copy' END
      FROM g;`)
  }
  // the history a DONE record has: injected, claimed, submitted, done (one row for a waiting one)
  db.exec(`
    INSERT INTO events (at, transfer_seq, transfer_id, user, task, from_state, to_state, reason, attempt, engine_job_id, actor)
    SELECT t.created_at + s.k * 1000, t.seq, t.id, t.user, t.task,
      CASE s.k WHEN 0 THEN NULL WHEN 1 THEN 'NEW' WHEN 2 THEN 'SUBMITTING' ELSE 'SUBMITTED' END,
      CASE s.k WHEN 0 THEN 'NEW' WHEN 1 THEN 'SUBMITTING' WHEN 2 THEN 'SUBMITTED' ELSE 'DONE' END,
      'filled', 1, t.engine_job_id, 'fill'
    FROM transfers t JOIN (SELECT 0 AS k UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3) s
      ON s.k = 0 OR t.state = 'DONE'
    ORDER BY t.seq, s.k;
    ANALYZE;`)
  fillRollups(db, Date.now())
  if (profile === 'history') {
    db.prepare(
      `INSERT INTO link_settings (link, max_active, paused, updated_at, updated_by) VALUES ('A->C', NULL, 1, ?, 'bench')`,
    ).run(t0)
  }
  db.close()
  await rename(tmp, file)
}

/**
 * The rollups of what the transfers hold, as the write path keeps them: counts per queue and state, files per
 * task and state, and the files that ended within the buckets' retention before `end` per minute and hour.
 */
function fillRollups(db: Database.Database, end: number): void {
  const n = (state: string) => `sum(CASE WHEN state = '${state}' THEN 1 ELSE 0 END)`
  db.exec(`
    INSERT INTO transfer_counts (user, grp, role, source, destination, state, n, bytes)
      SELECT user, grp, role, source, destination, state, count(*), sum(size) FROM transfers
      GROUP BY user, grp, role, source, destination, state;
    INSERT INTO task_counts (task, user, n_new, n_submitting, n_submitted, n_retry, n_killing, n_done, n_failed,
        n_killed, bytes, done_bytes)
      SELECT task, user, ${n('NEW')}, ${n('SUBMITTING')}, ${n('SUBMITTED')}, ${n('RETRY')}, ${n('KILLING')},
        ${n('DONE')}, ${n('FAILED')}, ${n('KILLED')}, sum(size), sum(CASE WHEN state = 'DONE' THEN size ELSE 0 END)
      FROM transfers GROUP BY task, user ORDER BY min(seq);`)
  const ended = (retention: number) =>
    `state IN ('DONE', 'FAILED', 'KILLED') AND finished_at >= ${end - retention} AND finished_at < ${end}`
  db.exec(`
    INSERT INTO transfer_minutes (minute, source, destination, user, state, failure_class, files, bytes)
      SELECT finished_at / 60000 * 60000, source, destination, user, state, coalesce(failure_class, ''), count(*),
        sum(size)
      FROM transfers WHERE ${ended(MINUTE_BUCKET_RETENTION_MS)}
      GROUP BY 1, source, destination, user, state, coalesce(failure_class, '');
    INSERT INTO transfer_hours (hour, source, destination, state, failure_class, files, bytes)
      SELECT finished_at / 3600000 * 3600000, source, destination, state, coalesce(failure_class, ''), count(*),
        sum(size)
      FROM transfers WHERE ${ended(HOUR_BUCKET_RETENTION_MS)}
      GROUP BY 1, source, destination, state, coalesce(failure_class, '');
    INSERT INTO user_hours (user, hour, state, files, bytes)
      SELECT user, finished_at / 3600000 * 3600000, state, count(*), sum(size)
      FROM transfers WHERE ${ended(HOUR_BUCKET_RETENTION_MS)}
      GROUP BY user, 2, state;`)
  db.exec('ANALYZE;')
}

/** The `dashboard` profile (see FillProfile): records, their last history row, open engine jobs, rollups. */
function fillDashboard(db: Database.Database, n: number): void {
  const week = 7 * 86_400_000
  const t0 = DASHBOARD_END - week
  // i's place in the week, and what became of it
  const at = `${t0} + i * ${week} / ${n}`
  const state = `CASE WHEN i % 100 = 0 THEN 'NEW' WHEN i % 100 = 1 THEN 'FAILED' WHEN i % 1000 = 2 THEN 'SUBMITTED' ELSE 'DONE' END`
  const CHUNK = 500_000
  for (let from = 0; from < n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK) - 1
    db.exec(`
      WITH RECURSIVE g(i) AS (SELECT ${from} UNION ALL SELECT i + 1 FROM g WHERE i < ${to}),
        r AS (SELECT i, ${state} AS st, ${at} AS t,
          'T2_' || char(65 + i % 3) AS src, CASE (i / 3) % 4 WHEN 0 THEN 'T1_X' WHEN 1 THEN 'T2_Y' WHEN 2 THEN 'T2_Z'
            ELSE 'T3_W' END AS dst FROM g)
      INSERT INTO transfers (id, user, grp, role, task, job_id, job_retry, type, source, source_lfn, destination,
        destination_lfn, size, adler32, priority, activity, publish, state, attempt, max_attempts, submissions,
        engine, engine_job_id, supersede_pending, created_at, updated_at, submitted_at, finished_at,
        source_cleanup, publication_state, method, failure_class, failure_reason)
      SELECT printf('%016x%016x', i, (i * 2654435761) % 4294967296), 'user' || (i % 100), '', '',
        'task' || (i / 500), i, 0, 'output', src, '/store/temp/user/user' || (i % 100) || '.x/fill' || i,
        dst, '/store/user/user' || (i % 100) || '/fill' || i, 1000000 + i % 100000, '00000001', 1 + i % 5, 'ASO', 0,
        st, 1, 3, CASE st WHEN 'NEW' THEN 0 ELSE 1 END, CASE st WHEN 'NEW' THEN NULL ELSE 'local' END,
        CASE st WHEN 'NEW' THEN NULL WHEN 'SUBMITTED' THEN 'open-job-' || (i / 10000) ELSE 'fill-job-' || (i / 100) END,
        0, t - 60000, t, CASE st WHEN 'NEW' THEN NULL ELSE t - 30000 END,
        CASE WHEN st IN ('DONE', 'FAILED') THEN t ELSE NULL END,
        CASE st WHEN 'DONE' THEN 'DONE' ELSE 'NONE' END, 'NOT_REQUIRED',
        CASE WHEN st IN ('DONE', 'FAILED') THEN 'file-copy' ELSE NULL END,
        CASE st WHEN 'FAILED' THEN CASE i % 3 WHEN 0 THEN 'permanent-source' WHEN 1 THEN 'permanent-destination'
          ELSE 'quota' END ELSE NULL END,
        CASE st WHEN 'FAILED' THEN 'SOURCE [2] No such file or directory' ELSE NULL END
      FROM r;`)
  }
  db.exec(`
    INSERT INTO events (at, transfer_seq, transfer_id, user, task, from_state, to_state, reason, attempt, engine_job_id, actor)
      SELECT updated_at, seq, id, user, task, NULL, state, 'filled', 1, engine_job_id, 'fill' FROM transfers ORDER BY seq;
    INSERT INTO engine_jobs (job_id, engine, agent_id, user, grp, role, source, destination, state, files, created_at,
        submitted_at, finished_at, last_polled_at, last_progress_at)
      SELECT engine_job_id, 'local', 'fill-agent', min(user), '', '', min(source), min(destination),
        CASE min(state) WHEN 'SUBMITTED' THEN 'SUBMITTED' ELSE 'FINISHED' END, count(*), min(created_at),
        min(submitted_at), max(finished_at), max(updated_at), max(updated_at)
      FROM transfers WHERE engine_job_id IS NOT NULL GROUP BY engine_job_id;
    INSERT INTO link_settings (link, max_active, paused, updated_at, updated_by)
      VALUES ('T2_C->T3_W', NULL, 1, ${t0}, 'bench');
    ANALYZE;`)
  fillRollups(db, DASHBOARD_END)
}
