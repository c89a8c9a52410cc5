/**
 * Adaptive per-link limits in the store (migrations/0008, issue 18): what the links did (fleet-wide, read from
 * the event log), the limit and memory the leader's tuner keeps per link, and its decisions. The limit reaches
 * the submitters through `linkSettings()` (ops/link-settings.ts); an operator pins and unpins there.
 */
import { sql } from 'kysely'
import { linkKey } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import type { Db, DialectName, Trx } from '../dialect.js'

/** Where the last activity read stopped: an event id (SQLite), or (xid, id) in commit order (PostgreSQL). */
export interface ActivityCursor {
  id: number
  xid?: string
}

/** Copies that ended on one link since a cursor. */
export interface LinkActivity {
  doneFiles: number
  doneBytes: number
  /** attempts that failed and were retried, and files that failed for good with a transient class */
  transientFailures: number
}

export interface LinkDecisionRecord {
  at: number
  link: string
  from: number
  to: number
  reason: string
  measurements: Record<string, unknown>
}

/** What the tuner keeps per link. */
export interface TunedLink {
  link: string
  adaptiveActive: number | null
  /** the controller's memory (JSON of domain/adaptive-limit.ts AdaptiveState) */
  state: string | null
  tunedAt: number | null
}

const ENDINGS = ['DONE', 'RETRY', 'FAILED']
const PAGE = 5000

interface EventRow {
  id: number | string
  xid?: string
  to_state: string
  source: string
  destination: string
  size: number | string
  failure_class: string | null
}

/** The newest committed event: where a new leader starts reading (it judges no interval it did not see). */
async function latestCursor(db: Db, dialect: DialectName): Promise<ActivityCursor> {
  if (dialect === 'postgres') {
    const r = await sql<{ id: string; xid: string }>`
      select id, xid::text as xid from events where xid < pg_snapshot_xmin(pg_current_snapshot())
      order by xid desc, id desc limit 1`.execute(db)
    const row = r.rows[0]
    return row ? { id: Number(row.id), xid: row.xid } : { id: 0, xid: '0' }
  }
  const row = await db
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst()
  return { id: Number(row?.id ?? 0) }
}

async function page(db: Db, dialect: DialectName, after: ActivityCursor): Promise<EventRow[]> {
  if (dialect === 'postgres') {
    // commit order, as the event stream reads it (migrations/0003): no row of a transaction still open
    const r = await sql<EventRow>`
      select e.id, e.xid::text as xid, e.to_state, t.source, t.destination, t.size, t.failure_class
      from events e join transfers t on t.seq = e.transfer_seq
      where (e.xid, e.id) > (${after.xid ?? '0'}::xid8, ${after.id})
        and e.xid < pg_snapshot_xmin(pg_current_snapshot())
        and e.to_state in ('DONE', 'RETRY', 'FAILED')
      order by e.xid, e.id
      limit ${PAGE}`.execute(db)
    return r.rows
  }
  return db
    .selectFrom('events as e')
    .innerJoin('transfers as t', 't.seq', 'e.transfer_seq')
    .select(['e.id', 'e.to_state', 't.source', 't.destination', 't.size', 't.failure_class'])
    .where('e.id', '>', after.id)
    .where('e.to_state', 'in', ENDINGS)
    .orderBy('e.id')
    .limit(PAGE)
    .execute()
}

/**
 * Copies that ended per link since `after` (every agent's: the event log is the fleet's), and the cursor to
 * pass next time. Without a cursor, only the cursor: what happened before this leader is not measured.
 */
export async function linkActivitySince(
  db: Db,
  dialect: DialectName,
  after: ActivityCursor | null,
): Promise<{ cursor: ActivityCursor; links: Map<string, LinkActivity> }> {
  const links = new Map<string, LinkActivity>()
  if (after === null) return { cursor: await latestCursor(db, dialect), links }
  let cursor = after
  for (;;) {
    const rows = await page(db, dialect, cursor)
    for (const r of rows) {
      const key = linkKey(r.source, r.destination)
      const a = links.get(key) ?? { doneFiles: 0, doneBytes: 0, transientFailures: 0 }
      if (r.to_state === 'DONE') {
        a.doneFiles += 1
        a.doneBytes += Number(r.size)
      } else if (r.to_state === 'RETRY' || r.failure_class === 'transient') a.transientFailures += 1
      links.set(key, a)
    }
    const last = rows.at(-1)
    if (last) cursor = { id: Number(last.id), ...(last.xid !== undefined ? { xid: last.xid } : {}) }
    if (rows.length < PAGE) return { cursor, links }
  }
}

export async function tunedLinks(db: Db): Promise<TunedLink[]> {
  const rows = await db
    .selectFrom('link_settings')
    .select(['link', 'adaptive_active', 'adaptive_state', 'tuned_at'])
    .execute()
  return rows.map((r) => ({
    link: r.link,
    adaptiveActive: r.adaptive_active === null ? null : Number(r.adaptive_active),
    state: r.adaptive_state,
    tunedAt: r.tuned_at === null ? null : Number(r.tuned_at),
  }))
}

/**
 * Stores the tuner's limit and memory for a link, and its decision when the limit changed. The operator's
 * columns (max_active, paused) are left as they are.
 */
export async function recordLinkTuning(
  trx: Trx,
  t: { link: string; limit: number; state: string; now: number; decision: LinkDecisionRecord | null },
): Promise<void> {
  const tuned = { adaptive_active: t.limit, adaptive_state: t.state, tuned_at: t.now }
  await trx
    .insertInto('link_settings')
    .values({ link: t.link, max_active: null, paused: 0, updated_at: t.now, updated_by: 'tuner', ...tuned })
    .onConflict((oc) => oc.column('link').doUpdateSet(tuned))
    .execute()
  if (t.decision) {
    await trx
      .insertInto('link_decisions')
      .values({
        at: t.decision.at,
        link: t.decision.link,
        from_active: t.decision.from,
        to_active: t.decision.to,
        reason: t.decision.reason,
        measurements: JSON.stringify(t.decision.measurements),
      })
      .execute()
  }
}

/** The newest decisions about a link (or every link), newest first. */
export async function linkDecisions(
  db: Db,
  link: string | null,
  limit: number,
): Promise<LinkDecisionRecord[]> {
  let q = db.selectFrom('link_decisions').selectAll()
  if (link !== null) q = q.where('link', '=', link)
  const rows = await q.orderBy('id', 'desc').limit(limit).execute()
  return rows.map((r) => ({
    at: Number(r.at),
    link: r.link,
    from: Number(r.from_active),
    to: Number(r.to_active),
    reason: r.reason,
    measurements: JSON.parse(r.measurements) as Record<string, unknown>,
  }))
}

/** The store's door for the adaptive link tuner and what shows its work. */
export interface LinkLimitOps {
  linkActivitySince(
    after: ActivityCursor | null,
  ): Promise<{ cursor: ActivityCursor; links: Map<string, LinkActivity> }>
  tunedLinks(): Promise<TunedLink[]>
  recordLinkTuning(t: {
    link: string
    limit: number
    state: string
    now: number
    decision: LinkDecisionRecord | null
  }): Promise<void>
  linkDecisions(link: string | null, limit: number): Promise<LinkDecisionRecord[]>
}

export function linkLimitOps(s: StoreContext): LinkLimitOps {
  return {
    linkActivitySince: (after) => linkActivitySince(s.db, s.dialect.name, after),
    tunedLinks: () => tunedLinks(s.db),
    recordLinkTuning: (t) => s.tx((trx) => recordLinkTuning(trx, t)),
    linkDecisions: (link, limit) => linkDecisions(s.db, link, limit),
  }
}
