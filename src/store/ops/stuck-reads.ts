/**
 * What waits and what is stuck, each found through what already indexes it and bounded (ARCHITECTURE.md
 * invariant 7): queues of NEW files (the counts rollup, then the NEW queue index), open engine jobs (their
 * partial index), RETRY files (the RETRY index).
 */
import { sql } from 'kysely'
import type { StoreContext } from '../context.js'
import type { Db } from '../dialect.js'
import { toEngineJobRow } from '../rows.js'
import type { EngineJobRow } from './engine-jobs.js'
import type { WaitingQueue } from './queue-reads.js'

/** A waiting queue with the age and priority of its oldest file. */
export interface QueueAge extends WaitingQueue {
  /** creation time of its oldest waiting file (null if the rollup ran ahead of a commit) */
  oldestCreatedAt: number | null
  /** that file's priority (with the time, its place in the queue index) */
  oldestPriority: number | null
}

export interface OverdueRetry {
  id: string
  user: string
  task: string
  source: string
  destination: string
  nextAttemptAt: number
  failureClass: string | null
  failureReason: string | null
}

/** Request priorities (domain/request.ts): the NEW queue index orders by priority first, so each is probed. */
const PRIORITIES = [1, 2, 3, 4, 5] as const

/** Open engine jobs (SUBMITTING or SUBMITTED), from the partial index of open jobs. */
export async function openEngineJobCount(db: Db, user?: string): Promise<number> {
  const row = await db
    .selectFrom('engine_jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', 'in', [sql.lit('SUBMITTING'), sql.lit('SUBMITTED')])
    .$if(user !== undefined, (w) => w.where('user', '=', user!))
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

/**
 * Every queue with waiting files (from the counts rollup) and its oldest file: one probe of the NEW queue index
 * per queue and priority, so the cost follows the number of queues, not of waiting files.
 */
export async function queueAges(db: Db, user?: string): Promise<QueueAge[]> {
  const rows = await db
    .selectFrom('transfer_counts as q')
    .select(['q.source', 'q.destination', 'q.user', 'q.grp', 'q.role', 'q.n'])
    .select((eb) =>
      PRIORITIES.map((p) =>
        eb
          .selectFrom('transfers as t')
          .select('t.created_at')
          .where('t.state', '=', sql.lit('NEW'))
          .whereRef('t.source', '=', 'q.source')
          .whereRef('t.destination', '=', 'q.destination')
          .whereRef('t.user', '=', 'q.user')
          .whereRef('t.grp', '=', 'q.grp')
          .whereRef('t.role', '=', 'q.role')
          .where('t.priority', '=', p)
          .orderBy('t.created_at')
          .limit(1)
          .as(`p${p}`),
      ),
    )
    .where('q.state', '=', 'NEW')
    .where('q.n', '>', 0)
    .$if(user !== undefined, (w) => w.where('q.user', '=', user!))
    .execute()
  return rows.map((r) => {
    let oldest: [number, number] | null = null
    for (const p of PRIORITIES) {
      const v = (r as Record<string, unknown>)[`p${p}`]
      if (v === null || v === undefined) continue
      if (oldest === null || Number(v) < oldest[0]) oldest = [Number(v), p]
    }
    return {
      source: r.source,
      destination: r.destination,
      user: r.user,
      group: r.grp === '' ? null : r.grp,
      role: r.role === '' ? null : r.role,
      waiting: Number(r.n),
      oldestCreatedAt: oldest?.[0] ?? null,
      oldestPriority: oldest?.[1] ?? null,
    }
  })
}

/** The oldest waiting file of a queue (its id), for a link to its page. */
export async function oldestOfQueue(db: Db, q: QueueAge): Promise<string | null> {
  if (q.oldestCreatedAt === null || q.oldestPriority === null) return null
  const row = await db
    .selectFrom('transfers')
    .select('id')
    .where('state', '=', sql.lit('NEW'))
    .where('source', '=', q.source)
    .where('destination', '=', q.destination)
    .where('user', '=', q.user)
    .where('grp', '=', q.group ?? '')
    .where('role', '=', q.role ?? '')
    .where('priority', '=', q.oldestPriority)
    .where('created_at', '=', q.oldestCreatedAt)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst()
  return row?.id ?? null
}

/** Open engine jobs without progress (or with a cancel unanswered) since `before`, oldest first. */
export async function stalledEngineJobs(
  db: Db,
  before: number,
  limit: number,
  user?: string,
): Promise<EngineJobRow[]> {
  const rows = await db
    .selectFrom('engine_jobs')
    .selectAll()
    .where('state', 'in', [sql.lit('SUBMITTING'), sql.lit('SUBMITTED')])
    .where((eb) =>
      eb.or([
        eb('last_progress_at', '<', before),
        eb.and([eb('cancel_requested_at', 'is not', null), eb('cancel_requested_at', '<', before)]),
      ]),
    )
    .$if(user !== undefined, (w) => w.where('user', '=', user!))
    .orderBy('last_progress_at')
    .limit(limit)
    .execute()
  return rows.map(toEngineJobRow)
}

/** RETRY files whose next attempt was due before `before` and that are still waiting (the RETRY index). */
export async function overdueRetries(
  db: Db,
  before: number,
  limit: number,
  user?: string,
): Promise<OverdueRetry[]> {
  const rows = await db
    .selectFrom('transfers')
    .select([
      'id',
      'user',
      'task',
      'source',
      'destination',
      'next_attempt_at',
      'failure_class',
      'failure_reason',
    ])
    .where('state', '=', sql.lit('RETRY'))
    .where('next_attempt_at', '<', before)
    .$if(user !== undefined, (w) => w.where('user', '=', user!))
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute()
  return rows.map((r) => ({
    id: r.id,
    user: r.user,
    task: r.task,
    source: r.source,
    destination: r.destination,
    nextAttemptAt: Number(r.next_attempt_at),
    failureClass: r.failure_class,
    failureReason: r.failure_reason,
  }))
}

/** The store's door for what does not move, through the indexes of each state. */
export interface StuckReads {
  openEngineJobCount(user?: string): Promise<number>
  /** every queue with waiting files and when its oldest was injected */
  queueAges(user?: string): Promise<QueueAge[]>
  oldestOfQueue(queue: QueueAge): Promise<string | null>
  stalledEngineJobs(before: number, limit: number, user?: string): Promise<EngineJobRow[]>
  overdueRetries(before: number, limit: number, user?: string): Promise<OverdueRetry[]>
}

export function stuckReads(s: StoreContext): StuckReads {
  return {
    openEngineJobCount: (user) => openEngineJobCount(s.db, user),
    queueAges: (user) => queueAges(s.db, user),
    oldestOfQueue: (queue) => oldestOfQueue(s.db, queue),
    stalledEngineJobs: (before, limit, user) => stalledEngineJobs(s.db, before, limit, user),
    overdueRetries: (before, limit, user) => overdueRetries(s.db, before, limit, user),
  }
}
