import { sql } from 'kysely'
import { AsoError } from '../../domain/errors.js'
import type { TransferState } from '../../domain/states.js'
import type { PublicationState, TransferRecord } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type Db, type DialectName } from '../dialect.js'
import { toRecord } from '../rows.js'

export interface CountRow {
  source: string
  destination: string
  user: string
  state: TransferState
  n: number
  bytes: number
}

export interface HistoryEvent {
  id: number
  at: number
  transferId: string
  user: string
  task: string
  from: TransferState | null
  to: TransferState
  reason: string
  attempt: number
  engineJobId: string | null
  actor: string
  /** the file's publication state after this event (null on rows written before publication existed) */
  publication: PublicationState | null
}

export interface ListFilter {
  user?: string
  task?: string
  state?: TransferState
  source?: string
  destination?: string
  failureClass?: string
  updatedSince?: number
  /** opaque cursor returned by the previous page */
  cursor?: string
  limit: number
}

export async function get(db: Db, id: string): Promise<TransferRecord | undefined> {
  const row = await db.selectFrom('transfers').selectAll().where('id', '=', id).executeTakeFirst()
  return row ? toRecord(row) : undefined
}

export async function getMany(db: Db, ids: readonly string[]): Promise<TransferRecord[]> {
  const out: TransferRecord[] = []
  for (const part of chunk(ids, 500)) {
    const rows = await db.selectFrom('transfers').selectAll().where('id', 'in', part).execute()
    out.push(...rows.map(toRecord))
  }
  return out
}

function toEvent(r: {
  id: number
  at: number
  transfer_id: string
  user: string
  task: string
  from_state: string | null
  to_state: string
  reason: string
  attempt: number
  engine_job_id: string | null
  actor: string
  publication: string | null
}): HistoryEvent {
  return {
    id: Number(r.id),
    at: Number(r.at),
    transferId: r.transfer_id,
    user: r.user,
    task: r.task,
    from: r.from_state as TransferState | null,
    to: r.to_state as TransferState,
    reason: r.reason,
    attempt: Number(r.attempt),
    engineJobId: r.engine_job_id,
    actor: r.actor,
    publication: r.publication as PublicationState | null,
  }
}

export async function history(db: Db, id: string): Promise<HistoryEvent[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('transfer_seq', '=', (eb) => eb.selectFrom('transfers').select('seq').where('id', '=', id))
    .orderBy('id')
    .execute()
  return rows.map(toEvent)
}

/**
 * History rows after `afterId` in stream order, for SSE and `Last-Event-ID`. SQLite commits one writer at a
 * time, so id order is commit order. On PostgreSQL a row with a lower id may commit after one with a higher id,
 * so the stream is ordered by (writing transaction id, id) and holds only rows whose transactions are all below
 * the snapshot's xmin, i.e. ended: a transaction that ends later has an xid at or above that horizon, so its
 * rows sort after everything already streamed and a reader resuming from its last id never skips one.
 */
export async function eventsSince(
  db: Db,
  dialect: DialectName,
  afterId: number,
  filter: { user?: string; task?: string },
  limit: number,
): Promise<HistoryEvent[]> {
  if (dialect === 'postgres') {
    const after = Math.max(0, Math.trunc(afterId))
    const rows = await sql<Parameters<typeof toEvent>[0]>`
      select id, at, transfer_id, "user", task, from_state, to_state, reason, attempt, engine_job_id, actor,
        publication
      from events
      where (xid, id) > (coalesce((select xid from events where id = ${after}), '0'::xid8), ${after})
        and xid < pg_snapshot_xmin(pg_current_snapshot())
        ${filter.task ? sql`and task = ${filter.task}` : sql``}
        ${filter.user ? sql`and "user" = ${filter.user}` : sql``}
      order by xid, id
      limit ${limit}`.execute(db)
    return rows.rows.map(toEvent)
  }
  let q = db.selectFrom('events').selectAll().where('id', '>', afterId)
  if (filter.task) q = q.where('task', '=', filter.task)
  if (filter.user) q = q.where('user', '=', filter.user)
  const rows = await q.orderBy('id').limit(limit).execute()
  return rows.map(toEvent)
}

/** Cursor = base64url of the last item's position in injection order. */
function decodeCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString())
  if (!Number.isSafeInteger(seq) || seq < 0)
    throw new AsoError(
      'invalid-request',
      'cursor is not valid: pass back the `next` value of the previous page',
    )
  return seq
}

/** Transfers in injection order, filtered; each page is a bounded index range scan. */
export async function list(db: Db, f: ListFilter): Promise<{ items: TransferRecord[]; next: string | null }> {
  let q = db.selectFrom('transfers').selectAll()
  if (f.user) q = q.where('user', '=', f.user)
  if (f.task) q = q.where('task', '=', f.task)
  if (f.state) q = q.where('state', '=', f.state)
  if (f.source) q = q.where('source', '=', f.source)
  if (f.destination) q = q.where('destination', '=', f.destination)
  if (f.failureClass) q = q.where('failure_class', '=', f.failureClass)
  if (f.updatedSince !== undefined) q = q.where('updated_at', '>=', f.updatedSince)
  if (f.cursor) q = q.where('seq', '>', decodeCursor(f.cursor))
  const rows = await q
    .orderBy('seq')
    .limit(f.limit + 1)
    .execute()
  const page = rows.slice(0, f.limit)
  const last = page.at(-1)
  const next = rows.length > f.limit && last ? Buffer.from(String(last.seq)).toString('base64url') : null
  return { items: page.map(toRecord), next }
}

export async function counts(db: Db, filter: { user?: string } = {}): Promise<CountRow[]> {
  let q = db
    .selectFrom('transfer_counts')
    .select((eb) => [
      'source',
      'destination',
      'user',
      'state',
      eb.fn.sum<number>('n').as('n'),
      eb.fn.sum<number>('bytes').as('bytes'),
    ])
    .where('n', '>', 0)
  if (filter.user) q = q.where('user', '=', filter.user)
  const rows = await q.groupBy(['source', 'destination', 'user', 'state']).execute()
  return rows.map((r) => ({ ...r, state: r.state as TransferState, n: Number(r.n), bytes: Number(r.bytes) }))
}

export async function taskCounts(db: Db, task: string, user?: string) {
  let q = db
    .selectFrom('transfers')
    .select((eb) => [
      'state',
      'failure_class',
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>('size').as('bytes'),
    ])
    .where('task', '=', task)
  if (user) q = q.where('user', '=', user)
  const rows = await q.groupBy(['state', 'failure_class']).execute()
  return rows.map((r) => ({
    state: r.state as TransferState,
    failureClass: r.failure_class,
    n: Number(r.n),
    bytes: Number(r.bytes ?? 0),
  }))
}

/** The store's door for records, their history and counts. */
export interface TransferReads {
  get(id: string): Promise<TransferRecord | undefined>
  /** in store order, not the order of `ids` */
  getMany(ids: readonly string[]): Promise<TransferRecord[]>
  history(id: string): Promise<HistoryEvent[]>
  /** History rows after the event `afterId` (0: from the start), in commit order, only rows no later commit can precede: resuming from the id of the last event received never skips one. Pass that last id back: on PostgreSQL ids are unique but not increasing along the stream (it follows the writing transactions). */
  eventsSince(
    afterId: number,
    filter: { user?: string; task?: string },
    limit: number,
  ): Promise<HistoryEvent[]>
  list(filter: ListFilter): Promise<{ items: TransferRecord[]; next: string | null }>
  counts(filter?: { user?: string }): Promise<CountRow[]>
  taskCounts(
    task: string,
    user?: string,
  ): Promise<{ state: TransferState; failureClass: string | null; n: number; bytes: number }[]>
}

export function transferReads(s: StoreContext): TransferReads {
  return {
    get: (id) => get(s.db, id),
    getMany: (ids) => getMany(s.db, ids),
    history: (id) => history(s.db, id),
    eventsSince: (afterId, filter, limit) => eventsSince(s.db, s.dialect.name, afterId, filter, limit),
    list: (filter) => list(s.db, filter),
    counts: (filter) => counts(s.db, filter),
    taskCounts: (task, user) => taskCounts(s.db, task, user),
  }
}
