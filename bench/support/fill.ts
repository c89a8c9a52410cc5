import { copyFile, mkdir, rename, stat } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import { openStore } from '../../src/store/open.js'

/** Where filled stores are kept between runs (they take minutes to make at 10M). */
export const CACHE_DIR = path.resolve('bench/.cache')

/**
 * What a filled store holds. `history`: 98 % DONE with their four history rows (A->B, 100 users), 2 % waiting
 * on a paused link A->C. `waiting`: every record NEW on A->B, waiting to be submitted.
 */
export type FillProfile = 'history' | 'waiting'

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
  const target = path.join(into, 'aso.db')
  await copyFile(cached, target)
  return target
}

async function fill(file: string, n: number, profile: FillProfile): Promise<void> {
  const tmp = `${file}.tmp`
  const store = await openStore(`sqlite:${tmp}`)
  await store.close()
  const db = new Database(tmp)
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.pragma('cache_size = -262144')
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
    INSERT INTO transfer_counts (user, grp, role, source, destination, state, n, bytes)
      SELECT user, grp, role, source, destination, state, count(*), sum(size) FROM transfers
      GROUP BY user, grp, role, source, destination, state;
    ANALYZE;`)
  if (profile === 'history') {
    db.prepare(
      `INSERT INTO link_settings (link, max_active, paused, updated_at, updated_by) VALUES ('A->C', NULL, 1, ?, 'bench')`,
    ).run(t0)
  }
  db.close()
  await rename(tmp, file)
}
