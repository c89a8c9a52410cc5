/**
 * The CouchDB bridge's slice of the store (docs/couchdb-bridge.md): the feed checkpoint, the documents it
 * ingested and what it has written back to each, and the write-backs due. The write-back cursor follows the
 * event stream (`eventsSince`), so a transfer's change made while the bridge was down is written back later.
 */
import type { Selectable } from 'kysely'
import type { TransferRecord } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type Trx } from '../dialect.js'
import { toRecord } from '../rows.js'
import type { CouchDocsTable, CouchFeedsTable } from '../schema.js'
import { eventsSince } from './transfer-reads.js'

export interface CouchFeedState {
  name: string
  /** the checkpoint: the feed's last_seq as the server sent it (opaque) */
  seq: string
  eventCursor: number
  readAt: number | null
  caughtUpAt: number | null
  behind: number | null
  ingested: number
  rejected: number
  kills: number
  retries: number
  written: number
  conflicts: number
  forbidden: number
  lastError: string | null
  updatedAt: number
}

export interface CouchDocRow {
  docId: string
  transferId: string | null
  seenRev: string | null
  writtenRev: string | null
  docState: string
  intentState: string | null
  pending: number
  rejectedReason: string | null
  publicationNote: string | null
  deleted: boolean
  lastError: string | null
}

/** What one feed batch learnt of one document; fields left out keep their stored value. */
export interface CouchDocUpdate {
  docId: string
  transferId?: string | null
  seenRev?: string
  docState?: string
  rejectedReason?: string | null
  publicationNote?: string | null
  deleted?: boolean
  /** a write-back is due (its generation goes up) */
  dirty?: boolean
}

export type CouchCounter =
  | 'ingested'
  | 'rejected'
  | 'kills'
  | 'retries'
  | 'written'
  | 'conflicts'
  | 'forbidden'

export interface CouchCheckpoint {
  seq: string
  /** the read reached the head of the feed */
  caughtUp: boolean
  behind: number | null
  counts: Partial<Record<CouchCounter, number>>
  lastError?: string | null
}

export interface CouchWriteBack {
  doc: CouchDocRow
  /** the transfer the document became (null: refused before any was stored) */
  transfer: TransferRecord | null
}

/** What one write-back came to. `pending` is the generation read: a newer mark keeps the document due. */
export interface CouchWriteResult {
  docId: string
  pending: number
  outcome: 'written' | 'unchanged' | 'conflict' | 'forbidden' | 'gone' | 'error' | 'waiting'
  rev?: string
  state?: string
  error?: string
}

function feedOf(r: Selectable<CouchFeedsTable>): CouchFeedState {
  return {
    name: r.name,
    seq: r.seq,
    eventCursor: Number(r.event_cursor),
    readAt: r.read_at === null ? null : Number(r.read_at),
    caughtUpAt: r.caught_up_at === null ? null : Number(r.caught_up_at),
    behind: r.behind === null ? null : Number(r.behind),
    ingested: Number(r.ingested),
    rejected: Number(r.rejected),
    kills: Number(r.kills),
    retries: Number(r.retries),
    written: Number(r.written),
    conflicts: Number(r.conflicts),
    forbidden: Number(r.forbidden),
    lastError: r.last_error,
    updatedAt: Number(r.updated_at),
  }
}

function docOf(r: Selectable<CouchDocsTable>): CouchDocRow {
  return {
    docId: r.doc_id,
    transferId: r.transfer_id,
    seenRev: r.seen_rev,
    writtenRev: r.written_rev,
    docState: r.doc_state,
    intentState: r.intent_state,
    pending: Number(r.pending),
    rejectedReason: r.rejected_reason,
    publicationNote: r.publication_note,
    deleted: Number(r.deleted) === 1,
    lastError: r.last_error,
  }
}

async function feedRow(trx: Trx, name: string, now: number): Promise<Selectable<CouchFeedsTable>> {
  const found = await trx.selectFrom('couch_feeds').selectAll().where('name', '=', name).executeTakeFirst()
  if (found) return found
  // write-backs follow the event stream from now: no document of this feed has a transfer yet
  const last = await trx
    .selectFrom('events')
    .select((eb) => eb.fn.max('id').as('id'))
    .executeTakeFirst()
  await trx
    .insertInto('couch_feeds')
    .values({
      name,
      seq: '0',
      event_cursor: Number(last?.id ?? 0),
      read_at: null,
      caught_up_at: null,
      behind: null,
      ingested: 0,
      rejected: 0,
      kills: 0,
      retries: 0,
      written: 0,
      conflicts: 0,
      forbidden: 0,
      last_error: null,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute()
  return trx.selectFrom('couch_feeds').selectAll().where('name', '=', name).executeTakeFirstOrThrow()
}

async function saveChanges(
  trx: Trx,
  name: string,
  docs: readonly CouchDocUpdate[],
  cp: CouchCheckpoint,
  now: number,
): Promise<void> {
  await feedRow(trx, name, now)
  const stored = new Map<string, Selectable<CouchDocsTable>>()
  for (const part of chunk(
    docs.map((d) => d.docId),
    500,
  )) {
    for (const r of await trx.selectFrom('couch_docs').selectAll().where('doc_id', 'in', part).execute())
      stored.set(r.doc_id, r)
  }
  for (const d of docs) {
    const old = stored.get(d.docId)
    if (!old) {
      await trx
        .insertInto('couch_docs')
        .values({
          doc_id: d.docId,
          feed: name,
          transfer_id: d.transferId ?? null,
          seen_rev: d.seenRev ?? null,
          written_rev: null,
          doc_state: d.docState ?? 'new',
          intent_state: null,
          pending: d.dirty ? 1 : 0,
          rejected_reason: d.rejectedReason ?? null,
          publication_note: d.publicationNote ?? null,
          deleted: d.deleted ? 1 : 0,
          last_error: null,
          ingested_at: now,
          updated_at: now,
        })
        .execute()
      continue
    }
    await trx
      .updateTable('couch_docs')
      .set((eb) => ({
        ...(d.transferId !== undefined ? { transfer_id: d.transferId } : {}),
        ...(d.seenRev !== undefined ? { seen_rev: d.seenRev } : {}),
        ...(d.docState !== undefined ? { doc_state: d.docState } : {}),
        ...(d.rejectedReason !== undefined ? { rejected_reason: d.rejectedReason } : {}),
        ...(d.publicationNote !== undefined ? { publication_note: d.publicationNote } : {}),
        ...(d.deleted !== undefined ? { deleted: d.deleted ? 1 : 0 } : {}),
        ...(d.dirty ? { pending: eb('pending', '+', 1) } : {}),
        updated_at: now,
      }))
      .where('doc_id', '=', d.docId)
      .execute()
  }
  await trx
    .updateTable('couch_feeds')
    .set((eb) => ({
      seq: cp.seq,
      read_at: now,
      ...(cp.caughtUp ? { caught_up_at: now } : {}),
      behind: cp.behind,
      ...(cp.lastError !== undefined ? { last_error: cp.lastError } : {}),
      ...Object.fromEntries(
        Object.entries(cp.counts)
          .filter(([, n]) => n)
          .map(([k, n]) => [k, eb(k as CouchCounter, '+', n as number)]),
      ),
      updated_at: now,
    }))
    .where('name', '=', name)
    .execute()
}

/** Events after the cursor: the documents of their transfers are marked due. Returns the events read. */
async function markWriteBacks(
  trx: Trx,
  dialect: StoreContext['dialect'],
  name: string,
  limit: number,
  now: number,
) {
  const feed = await feedRow(trx, name, now)
  const events = await eventsSince(trx, dialect.name, Number(feed.event_cursor), {}, limit)
  if (events.length === 0) return 0
  const ids = [...new Set(events.map((e) => e.transferId))]
  for (const part of chunk(ids, 500)) {
    await trx
      .updateTable('couch_docs')
      .set((eb) => ({ pending: eb('pending', '+', 1), updated_at: now }))
      .where('transfer_id', 'in', part)
      .where('deleted', '=', 0)
      .execute()
  }
  await trx
    .updateTable('couch_feeds')
    .set({ event_cursor: events.at(-1)!.id, updated_at: now })
    .where('name', '=', name)
    .execute()
  return events.length
}

async function dueWriteBacks(trx: Trx, name: string, limit: number): Promise<CouchWriteBack[]> {
  const docs = await trx
    .selectFrom('couch_docs')
    .selectAll()
    .where('pending', '>', 0)
    .where('feed', '=', name)
    // the least recently looked at first: documents waiting for the feed do not hold up the others
    .orderBy('updated_at')
    .orderBy('doc_id')
    .limit(limit)
    .execute()
  const ids = [...new Set(docs.map((d) => d.transfer_id).filter((id): id is string => id !== null))]
  const transfers = new Map<string, TransferRecord>()
  for (const part of chunk(ids, 500)) {
    for (const r of await trx.selectFrom('transfers').selectAll().where('id', 'in', part).execute())
      transfers.set(r.id, toRecord(r))
  }
  return docs.map((d) => ({
    doc: docOf(d),
    transfer: d.transfer_id ? (transfers.get(d.transfer_id) ?? null) : null,
  }))
}

async function recordWriteBacks(
  trx: Trx,
  name: string,
  results: readonly CouchWriteResult[],
  now: number,
): Promise<void> {
  const counts: Partial<Record<CouchCounter, number>> = {}
  const add = (k: CouchCounter) => {
    counts[k] = (counts[k] ?? 0) + 1
  }
  for (const r of results) {
    if (r.outcome === 'waiting') {
      await trx.updateTable('couch_docs').set({ updated_at: now }).where('doc_id', '=', r.docId).execute()
      continue
    }
    const done = r.outcome === 'written' || r.outcome === 'unchanged' || r.outcome === 'gone'
    // forbidden: reported, not tried again until the transfer changes once more
    const clear = done || r.outcome === 'forbidden'
    if (r.outcome === 'written') add('written')
    if (r.outcome === 'conflict') add('conflicts')
    if (r.outcome === 'forbidden') add('forbidden')
    await trx
      .updateTable('couch_docs')
      .set({
        ...(r.outcome === 'written' ? { written_rev: r.rev ?? null, intent_state: null } : {}),
        ...(r.state !== undefined && done ? { doc_state: r.state } : {}),
        ...(r.outcome === 'gone' ? { deleted: 1 } : {}),
        last_error: r.error ?? null,
        updated_at: now,
      })
      .where('doc_id', '=', r.docId)
      .execute()
    if (clear) {
      await trx
        .updateTable('couch_docs')
        .set({ pending: 0 })
        .where('doc_id', '=', r.docId)
        .where('pending', '=', r.pending)
        .execute()
    }
  }
  await feedRow(trx, name, now)
  if (Object.keys(counts).length) {
    await trx
      .updateTable('couch_feeds')
      .set((eb) =>
        Object.fromEntries(
          Object.entries(counts).map(([k, n]) => [k, eb(k as CouchCounter, '+', n as number)]),
        ),
      )
      .where('name', '=', name)
      .execute()
  }
}

export interface CouchStatus {
  feed: CouchFeedState | undefined
  documents: number
  transfers: number
  pending: number
  refused: number
  deleted: number
  /** documents whose last write-back failed (conflict still unresolved, forbidden, unreachable) */
  errors: { docId: string; error: string }[]
}

async function status(trx: Trx, name: string): Promise<CouchStatus> {
  const feed = await trx.selectFrom('couch_feeds').selectAll().where('name', '=', name).executeTakeFirst()
  const n = await trx
    .selectFrom('couch_docs')
    .select((eb) => [
      eb.fn.countAll<number>().as('documents'),
      eb.fn.count<number>('transfer_id').as('transfers'),
      eb.fn.sum<number>(eb.case().when('pending', '>', 0).then(1).else(0).end()).as('pending'),
      eb.fn
        .sum<number>(eb.case().when('rejected_reason', 'is not', null).then(1).else(0).end())
        .as('refused'),
      eb.fn.sum<number>('deleted').as('deleted'),
    ])
    .where('feed', '=', name)
    .executeTakeFirstOrThrow()
  const errors = await trx
    .selectFrom('couch_docs')
    .select(['doc_id', 'last_error'])
    .where('feed', '=', name)
    .where('last_error', 'is not', null)
    .orderBy('updated_at', 'desc')
    .limit(10)
    .execute()
  return {
    feed: feed ? feedOf(feed) : undefined,
    documents: Number(n.documents),
    transfers: Number(n.transfers),
    pending: Number(n.pending ?? 0),
    refused: Number(n.refused ?? 0),
    deleted: Number(n.deleted ?? 0),
    errors: errors.map((e) => ({ docId: e.doc_id, error: e.last_error ?? '' })),
  }
}

/** The CouchDB bridge's door to the store. `name` is the followed database (server URL and database). */
export interface CouchOps {
  /** the feed's row, created at checkpoint "0" the first time */
  couchFeed(name: string, now: number): Promise<CouchFeedState>
  /** the stored rows of these documents (those the bridge has seen in state new) */
  couchDocs(ids: readonly string[]): Promise<Map<string, CouchDocRow>>
  /** what one feed batch learnt, and its checkpoint, in one transaction */
  saveCouchChanges(
    name: string,
    docs: readonly CouchDocUpdate[],
    cp: CouchCheckpoint,
    now: number,
  ): Promise<void>
  /** follows the event stream from the write-back cursor and marks the documents of changed transfers due */
  markCouchWriteBacks(name: string, limit: number, now: number): Promise<number>
  /** documents with a write-back due, with their transfers */
  dueCouchWriteBacks(name: string, limit: number): Promise<CouchWriteBack[]>
  /** the states writes about to be sent set (their echo on the feed is then known as the bridge's own) */
  setCouchIntents(intents: readonly { docId: string; state: string }[], now: number): Promise<void>
  recordCouchWriteBacks(name: string, results: readonly CouchWriteResult[], now: number): Promise<void>
  couchStatus(name: string): Promise<CouchStatus>
}

export function couchOps(s: StoreContext): CouchOps {
  return {
    couchFeed: (name, now) => s.tx(async (trx) => feedOf(await feedRow(trx, name, now))),
    async couchDocs(ids) {
      const out = new Map<string, CouchDocRow>()
      for (const part of chunk([...ids], 500)) {
        for (const r of await s.db.selectFrom('couch_docs').selectAll().where('doc_id', 'in', part).execute())
          out.set(r.doc_id, docOf(r))
      }
      return out
    },
    saveCouchChanges: (name, docs, cp, now) => s.tx((trx) => saveChanges(trx, name, docs, cp, now)),
    markCouchWriteBacks: (name, limit, now) =>
      s.tx((trx) => markWriteBacks(trx, s.dialect, name, limit, now)),
    dueCouchWriteBacks: (name, limit) => s.tx((trx) => dueWriteBacks(trx, name, limit)),
    setCouchIntents: (intents, now) =>
      s.tx(async (trx) => {
        for (const i of intents) {
          await trx
            .updateTable('couch_docs')
            .set({ intent_state: i.state, updated_at: now })
            .where('doc_id', '=', i.docId)
            .execute()
        }
      }),
    recordCouchWriteBacks: (name, results, now) => s.tx((trx) => recordWriteBacks(trx, name, results, now)),
    couchStatus: (name) => s.tx((trx) => status(trx, name)),
  }
}
