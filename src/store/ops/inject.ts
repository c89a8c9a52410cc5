import type { Insertable } from 'kysely'
import type { FieldError } from '../../domain/errors.js'
import { initialPublicationState } from '../../domain/publication.js'
import { canApply } from '../../domain/states.js'
import { taskOfAnotherUser } from '../../domain/task-owner.js'
import type { TransferRequest } from '../../domain/transfer.js'
import { payloadDifferences, type TransferRecord } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type DialectOps, type Trx } from '../dialect.js'
import { insertPrepared, runsInProcess } from '../row-batch.js'
import { payloadColumns, requestOf, toRecord } from '../rows.js'
import type { TransfersTable } from '../schema.js'
import {
  addDeltas,
  applyCountDeltas,
  type ChangedRow,
  type CountDeltas,
  type HistoryRow,
  insertHistory,
  transition,
} from '../transition.js'
import { claimTaskOwners } from './task-owners.js'

/** One validated request to store, with its derived id. */
export interface InjectItem {
  id: string
  request: TransferRequest
}

export type InjectStatus = 'created' | 'unchanged' | 'superseded' | 'rejected'

export interface InjectResult {
  id: string | null
  status: InjectStatus
  error?: FieldError
}

/**
 * How `inject` stores a batch. A task belongs to the user of the first file injected into it (claimed in the
 * inject transaction): an item of another user in it is rejected with field `task`, naming nothing of it.
 */
export interface InjectOptions {
  now: number
  actor: string
  maxAttempts: number
}

function changedRowOf(r: TransferRecord, seq: number): ChangedRow {
  return {
    seq,
    id: r.id,
    user: r.user,
    grp: r.group ?? '',
    role: r.role ?? '',
    task: r.task,
    source: r.source,
    destination: r.destination,
    size: r.size,
    attempt: r.attempt,
    engine_job_id: r.engineJobId,
    publication_state: r.publicationState,
  }
}

/**
 * Stores new requests, leaves identical ones alone, supersedes older job retries, refuses conflicts. A task
 * belongs to the user who first injected into it: a new task is claimed for the user of its first item here,
 * and items of any other user in it are refused without a word about it.
 */
export async function inject(
  trx: Trx,
  dialect: DialectOps,
  items: readonly InjectItem[],
  opts: InjectOptions,
): Promise<InjectResult[]> {
  const { now, actor } = opts
  const claims = new Map<string, string>()
  for (const { request } of items) if (!claims.has(request.task)) claims.set(request.task, request.user)
  const owners = await claimTaskOwners(trx, claims, now)
  const current = new Map<string, TransferRecord>()
  const seqs = new Map<string, number>()
  const remember = (found: Map<string, Stored>) => {
    for (const [id, { record, seq }] of found) {
      current.set(id, record)
      seqs.set(id, seq)
    }
  }
  remember(await readStored(trx, [...new Set(items.map((i) => i.id))], false))
  if (dialect.name === 'postgres') {
    // a supersede decides from its record once locked: an outcome or another inject may be moving it right now
    // (SQLite: the transaction holds the whole database already); identical and new requests need no lock
    const older = items.filter((i) => {
      const stored = current.get(i.id)
      return stored !== undefined && supersedes(i.request, stored)
    })
    remember(await readStored(trx, [...new Set(older.map((i) => i.id))], true))
  }

  const inserts = new Map<string, Insertable<TransfersTable>>()
  const created: Omit<ChangedRow, 'seq'>[] = []
  const history: HistoryRow[] = []
  const deltas: CountDeltas = new Map()
  const results: InjectResult[] = []

  for (const { id, request } of items) {
    if (owners.get(request.task) !== request.user) {
      results.push({ id, status: 'rejected', error: taskOfAnotherUser(request.task) })
      continue
    }
    const pending = inserts.get(id)
    const existing = current.get(id)
    if (pending) {
      // the same file twice in one batch: compare with what this batch is about to store
      const diff = payloadDifferences(rowRequest(pending), request)
      results.push(
        diff.length === 0 ? { id, status: 'unchanged' } : conflict(id, diff, 'an earlier item of this batch'),
      )
      continue
    }
    if (!existing) {
      const row: Insertable<TransfersTable> = {
        id,
        ...payloadColumns(request),
        state: 'NEW',
        hold_reason: null,
        attempt: 1,
        max_attempts: opts.maxAttempts,
        submissions: 0,
        next_attempt_at: null,
        engine: null,
        engine_job_id: null,
        engine_file_id: null,
        agent_id: null,
        method: null,
        failure_class: null,
        failure_reason: null,
        supersede_pending: 0,
        created_at: now,
        updated_at: now,
        submitted_at: null,
        finished_at: null,
        source_cleanup: 'NONE',
        cleanup_at: null,
        publication_state: initialPublicationState(request),
        block_name: null,
      }
      inserts.set(id, row)
      const changed: Omit<ChangedRow, 'seq'> = {
        id,
        user: request.user,
        grp: request.group ?? '',
        role: request.role ?? '',
        task: request.task,
        source: request.source,
        destination: request.destination,
        size: request.size,
        attempt: 1,
        engine_job_id: null,
        publication_state: row.publication_state,
      }
      created.push(changed)
      results.push({ id, status: 'created' })
      continue
    }
    const diff = payloadDifferences(requestOf(existing), request)
    if (diff.length === 0) {
      results.push({ id, status: 'unchanged' })
      continue
    }
    if (supersedes(request, existing)) {
      const old = { record: existing, seq: seqs.get(id)! }
      const { record, result } = await supersede(trx, dialect, old, request, opts, deltas)
      current.set(id, record)
      results.push(result)
      continue
    }
    if (request.user !== existing.user) {
      results.push({
        id,
        status: 'rejected',
        error: {
          field: 'destinationLfn',
          message: `this destination file already belongs to a transfer of user "${existing.user}"; choose another destination LFN`,
        },
      })
      continue
    }
    results.push(conflict(id, diff, `the stored transfer (jobRetry ${existing.jobRetry})`))
  }

  await insertTransfers(trx, [...inserts.values()], seqs)
  const reason = `injected by ${actor}`
  const rows = created.map((c) => ({ ...c, seq: seqs.get(c.id)! }))
  for (const row of rows) history.push({ transfer: row, from: null, to: 'NEW', reason })
  addDeltas(deltas, rows, 'NEW', 1)
  await insertHistory(trx, history, actor, now)
  await applyCountDeltas(trx, deltas)
  return results
}

/** Inserts new rows and notes their sequence numbers. */
async function insertTransfers(
  trx: Trx,
  rows: readonly Insertable<TransfersTable>[],
  seqs: Map<string, number>,
) {
  if (rows.length === 0) return
  if (runsInProcess(trx)) {
    // one prepared insert run row by row; seq is the rowid
    const runs = await insertPrepared(trx, 'transfers', rows)
    for (const [i, r] of runs.entries()) seqs.set(rows[i]!.id, r.insertId)
    return
  }
  for (const part of chunk(rows, 400)) {
    for (const r of await trx.insertInto('transfers').values(part).returning(['seq', 'id']).execute()) {
      seqs.set(r.id, Number(r.seq))
    }
  }
}

function rowRequest(row: Insertable<TransfersTable>) {
  return requestOf(toRecord(row as never))
}

function conflict(id: string, diff: string[], against: string): InjectResult {
  return {
    id,
    status: 'rejected',
    error: {
      field: diff[0] ?? '(request)',
      message: `conflicts with ${against} for the same destination file in: ${diff.join(', ')}; a new job retry must carry a higher jobRetry`,
    },
  }
}

interface Stored {
  record: TransferRecord
  seq: number
}

/** The stored records of `ids`; `lock` takes their row locks first, in id order (PostgreSQL only). */
async function readStored(trx: Trx, ids: readonly string[], lock: boolean): Promise<Map<string, Stored>> {
  const found = new Map<string, Stored>()
  for (const part of chunk([...ids].sort(), 500)) {
    let q = trx.selectFrom('transfers').selectAll().where('id', 'in', part)
    if (lock) q = q.orderBy('id').forUpdate()
    for (const r of await q.execute()) found.set(r.id, { record: toRecord(r), seq: Number(r.seq) })
  }
  return found
}

/** Whether `request` is a newer job retry of the stored record, of the same user. */
function supersedes(request: InjectItem['request'], stored: TransferRecord): boolean {
  return request.jobRetry > stored.jobRetry && request.user === stored.user
}

/**
 * A newer jobRetry of the same destination file. Should the record have moved on since it was read (the
 * guarded update changes nothing), it is read again under its lock and the supersede tried once more from
 * where it is now, or answered from it when it is no longer an older job retry.
 */
export async function supersede(
  trx: Trx,
  dialect: DialectOps,
  old: Stored,
  request: InjectItem['request'],
  opts: InjectOptions,
  deltas: CountDeltas,
): Promise<{ record: TransferRecord; result: InjectResult }> {
  const id = old.record.id
  for (let attempt = 1; ; attempt++) {
    const refusal = publishedRefusal(old.record, request)
    if (refusal) return { record: old.record, result: refusal }
    const record = await supersedeFrom(trx, old, request, opts, deltas)
    if (record) return { record, result: { id, status: 'superseded' } }
    const fresh = (await readStored(trx, [id], dialect.name === 'postgres')).get(id)
    if (!fresh) throw new Error(`transfer ${id} vanished during its supersede`)
    if (attempt === 2 || !supersedes(request, fresh.record))
      return { record: fresh.record, result: movedOn(request, fresh.record) }
    old = fresh
  }
}

/** A file the catalog holds (or is being given) is never replaced: a closed block's content does not change. */
function publishedRefusal(stored: TransferRecord, request: InjectItem['request']): InjectResult | null {
  const state = stored.publicationState
  if (state !== 'PUBLISHED' && state !== 'PUBLISHING') return null
  return {
    id: stored.id,
    status: 'rejected',
    error: {
      field: 'jobRetry',
      message: `the stored file (jobRetry ${stored.jobRetry}) is ${state === 'PUBLISHED' ? 'published' : 'being published'} in block ${stored.blockName ?? '?'} of the catalog, whose content cannot change; write the output of job retry ${request.jobRetry} under another destination LFN`,
    },
  }
}

/** The answer for a request whose record changed while it was applied. */
function movedOn(request: InjectItem['request'], stored: TransferRecord): InjectResult {
  if (payloadDifferences(requestOf(stored), request).length === 0)
    return { id: stored.id, status: 'unchanged' }
  return {
    id: stored.id,
    status: 'rejected',
    error: {
      field: 'jobRetry',
      message: `the stored transfer changed while this request was applied (now ${stored.state}, jobRetry ${stored.jobRetry}); send it again`,
    },
  }
}

/**
 * One guarded supersede from the record's state: reset to NEW, or cancel the old attempt first (KILLING).
 * Returns the new record, or null when the record is no longer in that state.
 */
async function supersedeFrom(
  trx: Trx,
  old: Stored,
  request: InjectItem['request'],
  opts: InjectOptions,
  deltas: CountDeltas,
): Promise<TransferRecord | null> {
  const { record } = old
  const inFlight = canApply('supersedeInFlight', record.state)
  const [row] = await transition(
    trx,
    {
      event: inFlight ? 'supersedeInFlight' : 'supersede',
      from: record.state,
      ids: [record.id],
      set: {
        ...payloadColumns(request),
        supersede_pending: inFlight ? 1 : 0,
        source_cleanup: 'NONE',
        cleanup_at: null,
        ...(inFlight
          ? {}
          : {
              attempt: 1,
              max_attempts: opts.maxAttempts,
              hold_reason: null,
              next_attempt_at: null,
              failure_class: null,
              failure_reason: null,
              finished_at: null,
              publication_state: initialPublicationState(request),
              publication_class: null,
              publication_reason: null,
              block_name: null,
            }),
      },
      // the new payload may move the file to another queue or task: its old place loses it
      before: new Map([[record.id, changedRowOf(record, old.seq)]]),
      reason: `superseded by job retry ${request.jobRetry} (was ${record.jobRetry})`,
      actor: opts.actor,
      now: opts.now,
    },
    deltas,
    'full',
  )
  if (!row) return null
  if (inFlight && row.engine_job_id) {
    await trx
      .updateTable('engine_jobs')
      .set({ cancel_requested_at: opts.now })
      .where('job_id', '=', row.engine_job_id)
      .execute()
  }
  return toRecord(row)
}

/** The store's door for injection: new files, unchanged repeats, and newer job retries that supersede. */
export interface InjectOps {
  inject(items: readonly InjectItem[], opts: InjectOptions): Promise<InjectResult[]>
}

export function injectOps(s: StoreContext): InjectOps {
  return {
    inject: (items, opts) => s.tx((trx) => inject(trx, s.dialect, items, opts)),
  }
}
