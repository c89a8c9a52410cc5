import { type CompiledQuery, type ExpressionBuilder, sql, type UpdateObject } from 'kysely'
import {
  canApply,
  isTerminal,
  TRANSITIONS,
  type TransferState,
  type TransitionName,
} from '../domain/states.js'
import { chunk, type Trx } from './dialect.js'
import { insertPrepared, runRowBatch, runsInProcess } from './row-batch.js'
import type { TransferRow } from './rows.js'
import type { Database } from './schema.js'
import { applyTaskDeltas } from './task-rollup.js'

/** The columns every transition returns: enough for history rows and the counts rollup. */
export const RETURNED_COLUMNS = [
  'seq',
  'id',
  'user',
  'grp',
  'role',
  'task',
  'source',
  'destination',
  'size',
  'attempt',
  'engine_job_id',
  'publication_state',
] as const

export interface ChangedRow {
  seq: number
  id: string
  user: string
  grp: string
  role: string
  task: string
  source: string
  destination: string
  size: number
  attempt: number
  engine_job_id: string | null
  /** after the change: history rows carry it */
  publication_state: string
}

export type TransferUpdate = UpdateObject<Database, 'transfers'>

/** A record that entered DONE, FAILED or KILLED: what metrics and the log say of it once its transaction commits. */
export interface EndedTransfer {
  id: string
  user: string
  task: string
  source: string
  destination: string
  state: 'DONE' | 'FAILED' | 'KILLED'
  from: TransferState
  /** the failure class it ended with ('' for DONE) */
  failureClass: string
  bytes: number
  attempt: number
  /** when it was injected, and when it ended (ms) */
  createdAt: number
  endedAt: number
  /** who made the change (an agent id, a user) */
  actor: string
}

/** The extra columns a transition into a terminal state returns, for EndedTransfer. */
const ENDED_COLUMNS = [...RETURNED_COLUMNS, 'created_at', 'failure_class'] as const

/** The columns a caller reads for a transition with `current` rows (select them with these). */
export const CURRENT_COLUMNS = ENDED_COLUMNS

/** A row as a transaction read it before changing it: what history, rollups and EndedTransfer need. */
export interface CurrentRow extends ChangedRow {
  created_at: number
  failure_class: string | null
}

/** Records ended by each open transaction; the store hands them to its listeners after the commit. */
const endedIn = new WeakMap<Trx, EndedTransfer[]>()

/** The records that ended in `trx` (and forgets them): called by the store once the transaction's work is done. */
export function takeEnded(trx: Trx): EndedTransfer[] | undefined {
  const ended = endedIn.get(trx)
  endedIn.delete(trx)
  return ended
}

export interface TransitionSpec<R extends CurrentRow = CurrentRow> {
  event: TransitionName
  from: TransferState
  ids: readonly string[]
  /** columns set on every changed row (state and updated_at are added) */
  set?: TransferUpdate | ((eb: ExpressionBuilder<Database, 'transfers'>) => TransferUpdate)
  /**
   * The rows as this transaction read them (at least CURRENT_COLUMNS; those it holds locked, or any on SQLite,
   * whose write transaction holds the whole database). The update then returns nothing: the changed rows are
   * these with `set`'s plain values applied (a column set by an SQL expression keeps its old value in them),
   * which saves RETURNING, the costliest part of an update on SQLite. Needs `set` as an object.
   */
  current?: ReadonlyMap<string, R>
  /** extra guard: only rows of this engine job */
  engineJobId?: string
  /**
   * The rows' queue and task columns before the update, by id, for a `set` that changes them (a supersede
   * moves a file to another queue or task): the rollup's -1 is counted on these, the +1 on the changed row.
   */
  before?: ReadonlyMap<string, ChangedRow>
  reason: string
  actor: string
  now: number
}

/** A count change of the rollup: +n / -n files (and bytes) in one (queue, state) cell. */
export type CountDeltas = Map<string, { row: ChangedRow; state: string; n: number; bytes: number }>

function addDeltaRun(deltas: CountDeltas, row: ChangedRow, state: string, n: number, bytes: number): void {
  // the task is part of the key for the task rollup (task_counts); transfer_counts sums over it
  const key = `${row.source}\0${row.destination}\0${row.user}\0${row.grp}\0${row.role}\0${state}\0${row.task}`
  const d = deltas.get(key) ?? { row, state, n: 0, bytes: 0 }
  d.n += n
  d.bytes += bytes
  deltas.set(key, d)
}

function sameCell(a: ChangedRow, b: ChangedRow): boolean {
  return (
    a.user === b.user &&
    a.task === b.task &&
    a.source === b.source &&
    a.destination === b.destination &&
    a.grp === b.grp &&
    a.role === b.role
  )
}

/**
 * `sign` × each row in `state`: rows of one queue and task come in runs (a batch is mostly one user's task),
 * so each run is one map update rather than one per row.
 */
export function addDeltas(
  deltas: CountDeltas,
  rows: readonly ChangedRow[],
  state: string,
  sign: 1 | -1,
): void {
  let first = 0
  let bytes = 0
  for (let i = 0; i <= rows.length; i++) {
    if (i === rows.length || !sameCell(rows[i]!, rows[first]!)) {
      if (i > first) addDeltaRun(deltas, rows[first]!, state, sign * (i - first), sign * bytes)
      first = i
      bytes = 0
    }
    if (i < rows.length) bytes += Number(rows[i]!.size)
  }
}

/** Applies rollup changes in key order (so concurrent agents lock rows in the same order). */
export async function applyCountDeltas(trx: Trx, deltas: CountDeltas): Promise<void> {
  const cells = new Map<string, { row: ChangedRow; state: string; n: number; bytes: number }>()
  for (const [key, d] of deltas) {
    const cellKey = key.slice(0, key.lastIndexOf('\0'))
    const c = cells.get(cellKey) ?? { row: d.row, state: d.state, n: 0, bytes: 0 }
    c.n += d.n
    c.bytes += d.bytes
    cells.set(cellKey, c)
  }
  const values = [...cells.entries()]
    .filter(([, d]) => d.n !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, d]) => ({
      user: d.row.user,
      grp: d.row.grp,
      role: d.row.role,
      source: d.row.source,
      destination: d.row.destination,
      state: d.state,
      n: d.n,
      bytes: d.bytes,
    }))
  for (const part of chunk(values, 500)) {
    await trx
      .insertInto('transfer_counts')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['source', 'destination', 'user', 'grp', 'role', 'state']).doUpdateSet((eb) => ({
          n: eb('transfer_counts.n', '+', eb.ref('excluded.n')),
          bytes: eb('transfer_counts.bytes', '+', eb.ref('excluded.bytes')),
        })),
      )
      .execute()
  }
  await applyTaskDeltas(
    trx,
    [...deltas.values()].map((d) => ({
      task: d.row.task,
      user: d.row.user,
      state: d.state,
      n: d.n,
      bytes: d.bytes,
    })),
  )
}

export interface HistoryRow {
  transfer: ChangedRow
  from: TransferState | null
  to: TransferState
  reason: string
  engineJobId?: string | null
}

/** Writes history rows (one per file and transition). */
export async function insertHistory(trx: Trx, rows: readonly HistoryRow[], actor: string, now: number) {
  if (rows.length === 0) return
  const values = rows.map((h) => ({
    at: now,
    transfer_seq: Number(h.transfer.seq),
    transfer_id: h.transfer.id,
    user: h.transfer.user,
    task: h.transfer.task,
    from_state: h.from,
    to_state: h.to,
    reason: h.reason,
    attempt: Number(h.transfer.attempt),
    engine_job_id: h.engineJobId === undefined ? h.transfer.engine_job_id : h.engineJobId,
    actor,
    publication: h.transfer.publication_state,
  }))
  if (runsInProcess(trx)) {
    // 100-row inserts prepared once and run for each group: a multi-row statement's speed, built once
    await insertPrepared(trx, 'events', values, 100)
    return
  }
  for (const part of chunk(values, 500)) await trx.insertInto('events').values(part).execute()
}

/**
 * Publication follows the transfer (domain/publication.ts): a file that ends FAILED or KILLED is not published
 * (PENDING becomes NOT_REQUIRED), and a user's retry makes a publishable file PENDING again.
 */
function publicationFollows(event: TransitionName, to: TransferState): TransferUpdate {
  if (to === 'FAILED' || to === 'KILLED') {
    return {
      publication_state: sql<string>`case when publication_state = 'PENDING' then 'NOT_REQUIRED' else publication_state end`,
    }
  }
  if (event === 'userRetry') {
    return {
      publication_state: sql<string>`case when publish = 1 and type = 'output' then 'PENDING' else publication_state end`,
      publication_class: null,
      publication_reason: null,
      block_name: null,
    }
  }
  return {}
}

function noteEnded(
  trx: Trx,
  rows: readonly CurrentRow[],
  spec: TransitionSpec<CurrentRow>,
  state: EndedTransfer['state'],
) {
  const list = endedIn.get(trx) ?? []
  endedIn.set(trx, list)
  for (const r of rows) {
    list.push({
      id: r.id,
      user: r.user,
      task: r.task,
      source: r.source,
      destination: r.destination,
      state,
      from: spec.from,
      failureClass: state === 'DONE' ? '' : (r.failure_class ?? ''),
      bytes: Number(r.size),
      attempt: Number(r.attempt),
      createdAt: Number(r.created_at),
      endedAt: spec.now,
      actor: spec.actor,
    })
  }
}

/** A value an update sets as it is (not an SQL expression): what the changed row then holds. */
function isPlain(v: unknown): boolean {
  return v === null || typeof v !== 'object'
}

/** `rows` after the update: `set`'s plain values, the new state, publication following the transfer. */
function afterUpdate<R extends CurrentRow>(
  rows: readonly R[],
  set: TransferUpdate,
  to: TransferState,
  now: number,
): R[] {
  // one overlay for all rows: spreading two objects costs less than setting keys one by one on each copy
  const overlay: Record<string, unknown> = { state: to, updated_at: now }
  for (const [k, v] of Object.entries(set)) if (isPlain(v)) overlay[k] = v
  const unpublished = to === 'FAILED' || to === 'KILLED'
  return rows.map((row) => {
    const after = { ...row, ...overlay } as R
    if (unpublished && row.publication_state === 'PENDING') after.publication_state = 'NOT_REQUIRED'
    return after
  })
}

/** The guarded update of one transition, before its id condition. */
function guardedUpdate(trx: Trx, spec: TransitionSpec<CurrentRow>, to: TransferState) {
  let q = trx
    .updateTable('transfers')
    .set((eb) => ({
      ...publicationFollows(spec.event, to),
      ...(typeof spec.set === 'function' ? spec.set(eb) : spec.set),
      state: to,
      updated_at: spec.now,
    }))
    .where('state', '=', spec.from)
  if (spec.engineJobId !== undefined) q = q.where('engine_job_id', '=', spec.engineJobId)
  return q
}

/**
 * Compiled row updates by shape: the event (which fixes the SQL expressions among the values set), the states,
 * the columns set and the guards. The SQL depends on nothing else, and compiling one per engine job cost more
 * than running it where jobs are small.
 */
const rowUpdates = new Map<string, CompiledQuery>()

/** The guarded update of one row by id: its statement (compiled once per shape), and its parameters for `id`. */
function rowUpdate(trx: Trx, spec: TransitionSpec<CurrentRow>, to: TransferState) {
  const merged: Record<string, unknown> = {
    ...publicationFollows(spec.event, to),
    ...(spec.set as TransferUpdate),
    state: to,
    updated_at: spec.now,
  }
  const entries = Object.entries(merged)
  const guarded = spec.engineJobId !== undefined
  // plain values are parameters in the order set, then the guards; expressions are text of the statement
  const head = [...entries.filter(([, v]) => isPlain(v)).map(([, v]) => v), spec.from]
  if (guarded) head.push(spec.engineJobId)
  const key = [
    spec.event,
    spec.from,
    guarded,
    ...entries.map(([k, v]) => (isPlain(v) ? k : `${k}=expr`)),
  ].join('\0')
  let compiled = rowUpdates.get(key)
  if (!compiled) {
    compiled = guardedUpdate(trx, spec, to).where('id', '=', spec.ids[0]!).compile()
    const expected = [...head, spec.ids[0]]
    if (
      compiled.parameters.length !== expected.length ||
      compiled.parameters.some((p, i) => p !== expected[i])
    )
      throw new Error(`transition: a row update's parameters are not its values in order: ${compiled.sql}`)
    rowUpdates.set(key, compiled)
  }
  return { compiled, parametersFor: (id: string) => [...head, id] }
}

/**
 * The ids of `spec.current` rows the guarded update changed. In process (SQLite), one statement run row by row;
 * on PostgreSQL one statement per 500 rows that returns only the ids (a round trip per row would cost more).
 */
async function updateCurrent(
  trx: Trx,
  spec: TransitionSpec<CurrentRow>,
  to: TransferState,
): Promise<Set<string>> {
  const changed = new Set<string>()
  if (runsInProcess(trx)) {
    const { compiled, parametersFor } = rowUpdate(trx, spec, to)
    const runs = await runRowBatch(trx, compiled, spec.ids.map(parametersFor))
    for (const [i, r] of runs.entries()) if (r.changes === 1) changed.add(spec.ids[i]!)
    return changed
  }
  for (const ids of chunk(spec.ids, 500)) {
    const rows = await guardedUpdate(trx, spec, to).where('id', 'in', ids).returning('id').execute()
    for (const r of rows) changed.add(r.id)
  }
  return changed
}

/** The changed rows, returned by the update itself (the caller did not read them). */
async function updateReturning(
  trx: Trx,
  spec: TransitionSpec<CurrentRow>,
  to: TransferState,
  ending: boolean,
  full: boolean,
): Promise<CurrentRow[]> {
  const changed: CurrentRow[] = []
  for (const ids of chunk(spec.ids, 500)) {
    const q = guardedUpdate(trx, spec, to).where('id', 'in', ids)
    // `full` returns whole rows for callers that need the records (saves a second read)
    const rows = full
      ? await q.returningAll().execute()
      : await q.returning(ending ? ENDED_COLUMNS : RETURNED_COLUMNS).execute()
    changed.push(...(rows as CurrentRow[]))
  }
  return changed
}

/**
 * The one way a record changes state (invariant 1): an update guarded by the expected current state,
 * with its history rows and rollup changes, inside the caller's transaction. Returns the rows changed;
 * ids missing from the result were taken by someone else.
 */
export async function transition<R extends CurrentRow>(
  trx: Trx,
  spec: TransitionSpec<R> & { current: ReadonlyMap<string, R> },
  deltas?: CountDeltas,
): Promise<R[]>
export async function transition(trx: Trx, spec: TransitionSpec, deltas?: CountDeltas): Promise<ChangedRow[]>
export async function transition(
  trx: Trx,
  spec: TransitionSpec,
  deltas: CountDeltas | undefined,
  full: 'full',
): Promise<TransferRow[]>
export async function transition(
  trx: Trx,
  spec: TransitionSpec<CurrentRow>,
  deltas?: CountDeltas,
  full?: 'full',
): Promise<ChangedRow[] | TransferRow[]> {
  if (!canApply(spec.event, spec.from)) {
    throw new Error(`transition ${spec.event} cannot start from ${spec.from}`)
  }
  const to = TRANSITIONS[spec.event].to as TransferState
  // entering a terminal state: two more columns for EndedTransfer (the rest of the time, none)
  const ending = isTerminal(to) && !isTerminal(spec.from)
  let changed: CurrentRow[]
  if (spec.current) {
    const { current, set } = spec
    if (typeof set === 'function' || spec.event === 'userRetry')
      throw new Error(`transition ${spec.event}: rows read beforehand need a plain set, not an expression`)
    const ids = await updateCurrent(trx, spec, to)
    const rows = spec.ids.filter((id) => ids.has(id)).map((id) => current.get(id)!)
    changed = afterUpdate(rows, set ?? {}, to, spec.now)
  } else changed = await updateReturning(trx, spec, to, ending, full === 'full')
  if (changed.length === 0) return changed
  if (ending) noteEnded(trx, changed, spec, to as EndedTransfer['state'])
  await insertHistory(
    trx,
    changed.map((transfer) => ({ transfer, from: spec.from, to, reason: spec.reason })),
    spec.actor,
    spec.now,
  )
  if (spec.from !== to || spec.before) {
    const own = deltas ?? new Map()
    const before = spec.before
    addDeltas(own, before ? changed.map((row) => before.get(row.id) ?? row) : changed, spec.from, -1)
    addDeltas(own, changed, to, 1)
    if (!deltas) await applyCountDeltas(trx, own)
  }
  return changed
}
