import type { Insertable } from 'kysely'
import { canApply } from '../../domain/states.js'
import { taskOfAnotherUser } from '../../domain/task-owner.js'
import { payloadDifferences, type TransferRecord } from '../../domain/transfer.js'
import { chunk, type Trx } from '../dialect.js'
import { payloadColumns, requestOf, toRecord } from '../rows.js'
import type { TransfersTable } from '../schema.js'
import {
  addDelta,
  applyCountDeltas,
  type ChangedRow,
  type CountDeltas,
  type HistoryRow,
  insertHistory,
} from '../transition.js'
import type { InjectItem, InjectOptions, InjectResult } from '../types.js'
import { claimTaskOwners } from './task-owners.js'

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
  }
}

/**
 * Stores new requests, leaves identical ones alone, supersedes older job retries, refuses conflicts. A task
 * belongs to the user who first injected into it: a new task is claimed for the user of its first item here,
 * and items of any other user in it are refused without a word about it.
 */
export async function inject(
  trx: Trx,
  items: readonly InjectItem[],
  opts: InjectOptions,
): Promise<InjectResult[]> {
  const { now, actor } = opts
  const claims = new Map<string, string>()
  for (const { request } of items) if (!claims.has(request.task)) claims.set(request.task, request.user)
  const owners = await claimTaskOwners(trx, claims, now)
  const current = new Map<string, TransferRecord>()
  const seqs = new Map<string, number>()
  for (const ids of chunk([...new Set(items.map((i) => i.id))], 500)) {
    const rows = await trx.selectFrom('transfers').selectAll().where('id', 'in', ids).execute()
    for (const r of rows) {
      current.set(r.id, toRecord(r))
      seqs.set(r.id, Number(r.seq))
    }
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
        publication_state: request.publish ? 'PENDING' : 'NOT_REQUIRED',
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
    if (request.jobRetry > existing.jobRetry && request.user === existing.user) {
      const next = await supersede(trx, existing, seqs.get(id)!, request, opts, history, deltas)
      current.set(id, next)
      results.push({ id, status: 'superseded' })
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

  for (const rows of chunk([...inserts.values()], 400)) {
    for (const r of await trx.insertInto('transfers').values(rows).returning(['seq', 'id']).execute()) {
      seqs.set(r.id, Number(r.seq))
    }
  }
  for (const c of created) {
    const row = { ...c, seq: seqs.get(c.id)! }
    history.push({ transfer: row, from: null, to: 'NEW', reason: `injected by ${actor}` })
    addDelta(deltas, row, 'NEW', 1)
  }
  await insertHistory(trx, history, actor, now)
  await applyCountDeltas(trx, deltas)
  return results
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

/** A newer jobRetry of the same destination file: reset to NEW, or cancel the old attempt first. */
async function supersede(
  trx: Trx,
  old: TransferRecord,
  seq: number,
  request: InjectItem['request'],
  opts: InjectOptions,
  history: HistoryRow[],
  deltas: CountDeltas,
): Promise<TransferRecord> {
  const { now } = opts
  const inFlight = canApply('supersedeInFlight', old.state) || old.state === 'KILLING'
  const to = inFlight ? 'KILLING' : 'NEW'
  const reason = `superseded by job retry ${request.jobRetry} (was ${old.jobRetry})`
  const set = {
    ...payloadColumns(request),
    state: to,
    updated_at: now,
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
          publication_state: request.publish ? 'PENDING' : 'NOT_REQUIRED',
          block_name: null,
        }),
  }
  await trx
    .updateTable('transfers')
    .set(set)
    .where('id', '=', old.id)
    .where('state', '=', old.state)
    .execute()
  if (inFlight && old.engineJobId) {
    await trx
      .updateTable('engine_jobs')
      .set({ cancel_requested_at: now })
      .where('job_id', '=', old.engineJobId)
      .execute()
  }
  const before = changedRowOf(old, seq)
  const after: ChangedRow = {
    ...before,
    user: request.user,
    grp: request.group ?? '',
    role: request.role ?? '',
    task: request.task,
    source: request.source,
    size: request.size,
    attempt: inFlight ? old.attempt : 1,
  }
  history.push({ transfer: after, from: old.state, to, reason })
  addDelta(deltas, before, old.state, -1)
  addDelta(deltas, after, to, 1)
  const rec = await trx.selectFrom('transfers').selectAll().where('id', '=', old.id).executeTakeFirstOrThrow()
  return toRecord(rec)
}
