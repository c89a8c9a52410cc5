import { type CompiledQuery, SqliteAdapter } from 'kysely'
import type { Trx } from './dialect.js'

/**
 * One compiled statement run once per parameter set, in a single call to the driver. SQLite runs in process:
 * one prepared statement run row by row costs less there than a long multi-row statement (IN lists, RETURNING)
 * and less than a call through the query builder per row. The SQLite driver knows this query; PostgreSQL's
 * does not (a round trip per row would cost more there): check `runsInProcess` first.
 */
export interface RowBatchQuery extends CompiledQuery {
  readonly rowBatch: readonly (readonly unknown[])[]
}

export function isRowBatch(q: CompiledQuery): q is RowBatchQuery {
  return (q as Partial<RowBatchQuery>).rowBatch !== undefined
}

/** Whether `trx` talks to the in-process database (SQLite), where row batches pay. */
export function runsInProcess(trx: Trx): boolean {
  return trx.getExecutor().adapter instanceof SqliteAdapter
}

/** What one run of a row batch did: rows changed, and the rowid of the row it inserted (an insert's). */
export interface RowRun {
  changes: number
  insertId: number
}

/** Runs `compiled` once for each parameter set, in order. */
export async function runRowBatch(
  trx: Trx,
  compiled: CompiledQuery,
  parameterSets: readonly (readonly unknown[])[],
): Promise<RowRun[]> {
  if (parameterSets.length === 0) return []
  const batch: RowBatchQuery = { ...compiled, rowBatch: parameterSets }
  return (await trx.executeQuery<RowRun>(batch)).rows
}

/**
 * Inserts `rows` (objects of the same keys in the same order) with one prepared insert run row by row;
 * `compileOne` compiles the insert of one row, whose parameters must be its values in key order.
 */
export async function insertRowByRow<R extends object>(
  trx: Trx,
  rows: readonly R[],
  compileOne: (row: R) => CompiledQuery,
): Promise<RowRun[]> {
  if (rows.length === 0) return []
  const columns = Object.keys(rows[0]!) as (keyof R)[]
  const valuesOf = (r: R) => columns.map((c) => r[c])
  const compiled = compileOne(rows[0]!)
  const first = valuesOf(rows[0]!)
  if (compiled.parameters.length !== first.length || compiled.parameters.some((p, i) => p !== first[i]))
    throw new Error(`a row batch needs every value as a parameter, in column order: ${compiled.sql}`)
  return runRowBatch(trx, compiled, rows.map(valuesOf))
}
