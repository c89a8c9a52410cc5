import { type Compilable, type CompiledQuery, type Insertable, SqliteAdapter } from 'kysely'
import type { Trx } from './dialect.js'
import type { Database } from './schema.js'

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
 * Compiled inserts by table, columns and rows per statement: their SQL depends on nothing else (every value is a
 * parameter, checked when first compiled), and building a many-row insert costs as much as running it.
 */
const insertTemplates = new Map<string, CompiledQuery>()

/**
 * Inserts `rows` (objects of the same keys in the same order) into `table`, `perStatement` rows at a time, with
 * one prepared multi-row insert run for each full group (and one more for the rest); in process only.
 */
export async function insertPrepared<T extends keyof Database & string, R extends Insertable<Database[T]>>(
  trx: Trx,
  table: T,
  rows: readonly R[],
  perStatement = 1,
): Promise<RowRun[]> {
  if (rows.length === 0) return []
  const columns = Object.keys(rows[0]!) as (keyof R)[]
  // a plain loop: flatMap over nested maps costs more than the statements it feeds
  const valuesOf = (group: readonly R[]) => {
    const values: unknown[] = new Array(group.length * columns.length)
    let i = 0
    for (const r of group) for (const c of columns) values[i++] = r[c]
    return values
  }
  const template = (size: number) => {
    const key = `${table}\0${columns.join(',')}\0${size}`
    let compiled = insertTemplates.get(key)
    if (!compiled) {
      const group = rows.slice(0, size)
      compiled = trx
        .insertInto(table)
        .values(group as never)
        .compile()
      const values = valuesOf(group)
      if (compiled.parameters.length !== values.length || compiled.parameters.some((p, i) => p !== values[i]))
        throw new Error(`a row batch needs every value as a parameter, in column order: ${compiled.sql}`)
      insertTemplates.set(key, compiled)
    }
    return compiled
  }
  const runs: RowRun[] = []
  const whole = rows.length - (rows.length % perStatement)
  for (const [from, to, size] of [
    [0, whole, perStatement],
    [whole, rows.length, rows.length - whole],
  ] as const) {
    if (from === to) continue
    const groups: (readonly unknown[])[] = []
    for (let i = from; i < to; i += size) groups.push(valuesOf(rows.slice(i, i + size)))
    runs.push(...(await runRowBatch(trx, template(size), groups)))
  }
  return runs
}

/** Compiled statements of a fixed shape, by dialect and name. */
const fixedStatements = new Map<string, CompiledQuery>()

/**
 * Runs a statement of a fixed shape (no value changes its SQL), compiled once per dialect under `name`, with
 * `parameters` (its values in order, checked against the first compile). For the per-engine-job statements: where
 * jobs are small, building each one again cost more than running it.
 */
export async function runFixed<R>(
  trx: Trx,
  name: string,
  parameters: readonly unknown[],
  build: () => Compilable<R>,
): Promise<R[]> {
  const key = `${trx.getExecutor().adapter.constructor.name}\0${name}`
  let compiled = fixedStatements.get(key)
  if (!compiled) {
    compiled = build().compile()
    if (
      compiled.parameters.length !== parameters.length ||
      compiled.parameters.some((p, i) => p !== parameters[i])
    )
      throw new Error(`statement ${name}: the parameters given are not its values in order: ${compiled.sql}`)
    fixedStatements.set(key, compiled)
  }
  return (await trx.executeQuery<R>({ ...compiled, parameters })).rows
}
