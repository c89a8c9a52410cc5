import { sql } from 'kysely'
import type { TransferState } from '../../domain/states.js'
import type { StoreContext } from '../context.js'
import type { Db, DialectName } from '../dialect.js'

export interface TaskFailureReason {
  state: TransferState
  failureClass: string | null
  reason: string
  n: number
}

/**
 * The distinct callback URLs stored for `user`'s files of a task (null: files without one); at most `limit`.
 * Only that user's: another user's URL is never compared with, nor shown (tasks made before owners may be mixed).
 */
export async function taskCallbackUrls(
  db: Db,
  task: string,
  user: string,
  limit: number,
): Promise<(string | null)[]> {
  const rows = await db
    .selectFrom('transfers')
    .select('callback_url')
    .distinct()
    .where('task', '=', task)
    .where('user', '=', user)
    .limit(limit)
    .execute()
  return rows.map((r) => r.callback_url)
}

/** Why a task's files failed (FAILED, KILLED, waiting in RETRY): each distinct reason with its count. */
export async function taskFailureReasons(db: Db, task: string, user: string | undefined, limit: number) {
  let q = db
    .selectFrom('transfers')
    .select((eb) => ['state', 'failure_class', 'failure_reason', eb.fn.countAll<number>().as('n')])
    .where('task', '=', task)
    .where('state', 'in', ['FAILED', 'KILLED', 'RETRY'])
    .where('failure_reason', 'is not', null)
  if (user) q = q.where('user', '=', user)
  const rows = await q
    .groupBy(['state', 'failure_class', 'failure_reason'])
    .orderBy('n', 'desc')
    .limit(limit)
    .execute()
  return rows.map((r) => ({
    state: r.state as TransferState,
    failureClass: r.failure_class,
    reason: r.failure_reason as string,
    n: Number(r.n),
  }))
}

/**
 * The id of the newest history event (0 when there is none): where a live event stream starts. On PostgreSQL,
 * the last one in stream order (see eventsSince): a row still being committed may have a lower id.
 */
export async function latestEventId(db: Db, dialect: DialectName = 'sqlite'): Promise<number> {
  if (dialect === 'postgres') {
    const last = await sql<{ id: number }>`
      select id from events where xid < pg_snapshot_xmin(pg_current_snapshot())
      order by xid desc, id desc limit 1`.execute(db)
    return Number(last.rows[0]?.id ?? 0)
  }
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst()
  return Number(row?.id ?? 0)
}

/** FAILED and RETRY files per failure class (for /metrics; one query per state, each served by a partial index). */
export async function failureClassCounts(db: Db) {
  const out: { state: TransferState; failureClass: string; n: number }[] = []
  for (const state of ['FAILED', 'RETRY'] as const) {
    const rows = await db
      .selectFrom('transfers')
      .select((eb) => ['failure_class', eb.fn.countAll<number>().as('n')])
      .where('state', '=', state)
      .groupBy('failure_class')
      .execute()
    for (const r of rows) out.push({ state, failureClass: r.failure_class ?? 'unknown', n: Number(r.n) })
  }
  return out
}

/** The store's door for what the API and notifications read of a task. */
export interface TaskReads {
  /** the distinct callback URLs of `user`'s files of a task (null: files without one), at most `limit` */
  taskCallbackUrls(task: string, user: string, limit: number): Promise<(string | null)[]>
  /** each distinct failure reason of a task's FAILED, KILLED and RETRY files, with its count, most frequent first */
  taskFailureReasons(task: string, user: string | undefined, limit: number): Promise<TaskFailureReason[]>
  /** the newest history event id (0 if none): where a live event stream starts */
  latestEventId(): Promise<number>
  /** FAILED and RETRY files per failure class */
  failureClassCounts(): Promise<{ state: TransferState; failureClass: string; n: number }[]>
}

export function taskReads(s: StoreContext): TaskReads {
  return {
    taskCallbackUrls: (task, user, limit) => taskCallbackUrls(s.db, task, user, limit),
    taskFailureReasons: (task, user, limit) => taskFailureReasons(s.db, task, user, limit),
    latestEventId: () => latestEventId(s.db, s.dialect.name),
    failureClassCounts: () => failureClassCounts(s.db),
  }
}
