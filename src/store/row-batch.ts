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
 * Inserts `rows` (objects of the same keys in the same order), `perStatement` rows at a time, with one prepared
 * multi-row insert run for each full group (and one more for the rest); `compileOne` compiles the insert of a
 * group, whose parameters must be its values in row and key order.
 */
export async function insertPrepared<R extends object>(
  trx: Trx,
  rows: readonly R[],
  compileOne: (rows: readonly R[]) => CompiledQuery,
  perStatement = 1,
): Promise<RowRun[]> {
  if (rows.length === 0) return []
  const columns = Object.keys(rows[0]!) as (keyof R)[]
  const valuesOf = (group: readonly R[]) => group.flatMap((r) => columns.map((c) => r[c]))
  const runs: RowRun[] = []
  const whole = rows.length - (rows.length % perStatement)
  for (const [from, to, size] of [
    [0, whole, perStatement],
    [whole, rows.length, rows.length - whole],
  ] as const) {
    if (from === to) continue
    const compiled = compileOne(rows.slice(0, size))
    const first = valuesOf(rows.slice(0, size))
    if (compiled.parameters.length !== first.length || compiled.parameters.some((p, i) => p !== first[i]))
      throw new Error(`a row batch needs every value as a parameter, in column order: ${compiled.sql}`)
    const groups: (readonly unknown[])[] = []
    for (let i = from; i < to; i += size) groups.push(valuesOf(rows.slice(i, i + size)))
    runs.push(...(await runRowBatch(trx, compiled, groups)))
  }
  return runs
}
