/**
 * Reads of the time buckets (migrations/0004): files that ended per minute or hour, per state or per link, and
 * the pruning of buckets past their retention. Each read is a key range of one bucket table.
 */
import type { TransferState } from '../../domain/states.js'
import type { StoreContext } from '../context.js'
import type { Db, Trx } from '../dialect.js'
import { HOUR_BUCKET_RETENTION_MS, MINUTE_BUCKET_RETENTION_MS } from '../migrations/0004-dashboard-rollups.js'

export interface FinishedBucket {
  /** the bucket's start, epoch ms */
  at: number
  state: TransferState
  files: number
  bytes: number
}

export interface FinishedByLink {
  source: string
  destination: string
  state: TransferState
  failureClass: string | null
  files: number
  bytes: number
}

type Span = 'minute' | 'hour'

/** Files that ended per bucket and state in [from, to), optionally one user's. */
export async function finishedSeries(
  db: Db,
  q: { span: Span; from: number; to: number; user?: string },
): Promise<FinishedBucket[]> {
  let rows: { at: number; state: string; files: number; bytes: number }[]
  if (q.span === 'minute') {
    rows = await db
      .selectFrom('transfer_minutes')
      .select((eb) => [
        'minute as at',
        'state',
        eb.fn.sum<number>('files').as('files'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('minute', '>=', q.from)
      .where('minute', '<', q.to)
      .$if(q.user !== undefined, (w) => w.where('user', '=', q.user!))
      .groupBy(['minute', 'state'])
      .execute()
  } else if (q.user !== undefined) {
    rows = await db
      .selectFrom('user_hours')
      .select(['hour as at', 'state', 'files', 'bytes'])
      .where('user', '=', q.user)
      .where('hour', '>=', q.from)
      .where('hour', '<', q.to)
      .execute()
  } else {
    rows = await db
      .selectFrom('transfer_hours')
      .select((eb) => [
        'hour as at',
        'state',
        eb.fn.sum<number>('files').as('files'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('hour', '>=', q.from)
      .where('hour', '<', q.to)
      .groupBy(['hour', 'state'])
      .execute()
  }
  return rows.map((r) => ({
    at: Number(r.at),
    state: r.state as TransferState,
    files: Number(r.files),
    bytes: Number(r.bytes),
  }))
}

/**
 * Files that ended in [from, to) per link, state and failure class: from minute buckets (optionally one user's)
 * or hour buckets (everyone's: hours are kept per link, not per user and link).
 */
export async function finishedByLink(
  db: Db,
  q: { span: Span; from: number; to: number; user?: string },
): Promise<FinishedByLink[]> {
  let rows: {
    source: string
    destination: string
    state: string
    failure_class: string
    files: number
    bytes: number
  }[]
  const sums = ['source', 'destination', 'state', 'failure_class'] as const
  if (q.span === 'minute') {
    rows = await db
      .selectFrom('transfer_minutes')
      .select((eb) => [
        ...sums,
        eb.fn.sum<number>('files').as('files'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('minute', '>=', q.from)
      .where('minute', '<', q.to)
      .$if(q.user !== undefined, (w) => w.where('user', '=', q.user!))
      .groupBy([...sums])
      .execute()
  } else {
    if (q.user !== undefined) throw new Error('hour buckets per link are kept for everyone, not per user')
    rows = await db
      .selectFrom('transfer_hours')
      .select((eb) => [
        ...sums,
        eb.fn.sum<number>('files').as('files'),
        eb.fn.sum<number>('bytes').as('bytes'),
      ])
      .where('hour', '>=', q.from)
      .where('hour', '<', q.to)
      .groupBy([...sums])
      .execute()
  }
  return rows.map((r) => ({
    source: r.source,
    destination: r.destination,
    state: r.state as TransferState,
    failureClass: r.failure_class === '' ? null : r.failure_class,
    files: Number(r.files),
    bytes: Number(r.bytes),
  }))
}

/** Deletes one table's buckets older than `cutoff`, at most `step` ms of them from the oldest (a key range). */
async function pruneTable(
  trx: Trx,
  table: 'transfer_minutes' | 'transfer_hours' | 'user_hours',
  column: 'minute' | 'hour',
  cutoff: number,
  step: number,
): Promise<number> {
  const oldest = await trx
    .selectFrom(table)
    .select((eb) => eb.fn.min<number>(column).as('t'))
    .executeTakeFirst()
  if (oldest?.t === null || oldest?.t === undefined || Number(oldest.t) >= cutoff) return 0
  const r = await trx
    .deleteFrom(table)
    .where(column, '<', Math.min(cutoff, Number(oldest.t) + step))
    .executeTakeFirst()
  return Number(r.numDeletedRows)
}

/**
 * Deletes time buckets past their retention, at most an hour of minute buckets and a day of hour buckets per
 * table and call, so that a long pause is caught up in bounded steps.
 */
export async function pruneFinishedBuckets(trx: Trx, now: number): Promise<number> {
  const hours = now - HOUR_BUCKET_RETENTION_MS
  return (
    (await pruneTable(trx, 'transfer_minutes', 'minute', now - MINUTE_BUCKET_RETENTION_MS, 3_600_000)) +
    (await pruneTable(trx, 'transfer_hours', 'hour', hours, 86_400_000)) +
    (await pruneTable(trx, 'user_hours', 'hour', hours, 86_400_000))
  )
}

/** The store's door for the dashboard's time buckets (rollups only). */
export interface FinishedReads {
  /** files that ended per time bucket (minute or hour) and state, in [from, to) */
  finishedSeries(q: {
    span: 'minute' | 'hour'
    from: number
    to: number
    user?: string
  }): Promise<FinishedBucket[]>
  /** files that ended per link, state and class, in [from, to) (hour buckets: everyone's only) */
  finishedByLink(q: {
    span: 'minute' | 'hour'
    from: number
    to: number
    user?: string
  }): Promise<FinishedByLink[]>
  /** deletes time buckets past retention (bounded per call); returns rows deleted */
  pruneFinishedBuckets(now: number): Promise<number>
}

export function finishedReads(s: StoreContext): FinishedReads {
  return {
    finishedSeries: (q) => finishedSeries(s.db, q),
    finishedByLink: (q) => finishedByLink(s.db, q),
    pruneFinishedBuckets: (now) => s.tx((trx) => pruneFinishedBuckets(trx, now)),
  }
}
