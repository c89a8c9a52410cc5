import { type Kysely, Migrator, sql } from 'kysely'
import { sqliteOps } from '../dialect.js'
import type { Database } from '../schema.js'
import { openSqlite } from '../sqlite/open.js'
import { bindStore, type KyselyStore } from '../store.js'
import { migrationProvider } from './index.js'

/** Where a database stands against this ASO's migrations and schema. */
export interface SchemaReport {
  dialect: string
  applied: string[]
  /** migrations this ASO has and the database has not run: `aso db migrate` runs them */
  pending: string[]
  /** migrations the database ran that this ASO does not know (a newer ASO migrated it) */
  unknown: string[]
  /** tables and columns the migrations create that the database lacks */
  missing: string[]
  /** tables and columns the database has beyond the migrations (informational) */
  extra: string[]
}

/** Tables and their columns, as the database itself describes them (Kysely's own tables left out). */
async function shape(db: Kysely<Database>, dialect: string): Promise<Map<string, Set<string>>> {
  let schema: string | undefined
  if (dialect === 'postgres') {
    schema = (await sql<{ s: string }>`select current_schema() as s`.execute(db)).rows[0]?.s
  }
  const tables = await db.introspection.getTables()
  return new Map(
    tables
      .filter((t) => !t.isView && (schema === undefined || t.schema === schema))
      .map((t) => [t.name, new Set(t.columns.map((c) => c.name))]),
  )
}

/**
 * Compares a database with this ASO: which migrations are pending or unknown, and (once none is pending)
 * whether its tables and columns are those the migrations make, against a scratch SQLite migrated here.
 */
export async function checkSchema(store: KyselyStore): Promise<SchemaReport> {
  const migrator = new Migrator({ db: store.db, provider: migrationProvider(store.dialect) })
  const known = await migrator.getMigrations()
  const applied = known.filter((m) => m.executedAt !== undefined).map((m) => m.name)
  const pending = known.filter((m) => m.executedAt === undefined).map((m) => m.name)
  const names = new Set(known.map((m) => m.name))
  let executed: string[] = []
  try {
    executed = (await sql<{ name: string }>`select name from kysely_migration`.execute(store.db)).rows.map(
      (r) => r.name,
    )
  } catch (e) {
    // no migration table yet: a database ASO never migrated, every migration is pending
    if (applied.length > 0) throw e
  }
  const report: SchemaReport = {
    dialect: store.dialect,
    applied,
    pending,
    unknown: executed.filter((n) => !names.has(n)),
    missing: [],
    extra: [],
  }
  if (pending.length > 0) return report

  const reference = bindStore(openSqlite(':memory:'), sqliteOps)
  try {
    await reference.migrate()
    const want = await shape(reference.db, 'sqlite')
    const have = await shape(store.db, store.dialect)
    for (const [table, columns] of want) {
      const got = have.get(table)
      if (!got) {
        report.missing.push(`table ${table}`)
        continue
      }
      for (const c of columns) if (!got.has(c)) report.missing.push(`column ${table}.${c}`)
      for (const c of got) if (!columns.has(c)) report.extra.push(`column ${table}.${c}`)
    }
    for (const table of have.keys()) if (!want.has(table)) report.extra.push(`table ${table}`)
  } finally {
    await reference.close()
  }
  return report
}

/** Runs the pending migrations; returns the names it ran. */
export async function migrateStore(store: KyselyStore): Promise<string[]> {
  const before = new Set((await checkSchema(store)).applied)
  await store.migrate()
  const after = await checkSchema(store)
  return after.applied.filter((n) => !before.has(n))
}
