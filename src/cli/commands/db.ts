import { AsoError } from '../../domain/errors.js'
import { checkSchema, migrateStore, type SchemaReport } from '../../store/migrations/status.js'
import type { KyselyStore } from '../../store/store.js'
import { type GlobalOptions, openApp } from '../app.js'
import { CliExit, EXIT } from '../exit.js'

async function openUnmigrated(opts: GlobalOptions): Promise<{ store: KyselyStore; close(): Promise<void> }> {
  const app = await openApp(opts, { migrate: false })
  if (!('db' in app.store)) {
    await app.close()
    throw new AsoError('internal', 'this store does not support schema management')
  }
  return { store: app.store as KyselyStore, close: () => app.close() }
}

/** `aso db migrate`: runs the migrations the database has not run yet (agents may keep running). */
export async function dbMigrateCommand(opts: GlobalOptions & { json?: boolean }) {
  const { store, close } = await openUnmigrated(opts)
  try {
    const ran = await migrateStore(store)
    const report = await checkSchema(store)
    if (opts.json) process.stdout.write(`${JSON.stringify({ ran, ...report }, null, 2)}\n`)
    else {
      for (const name of ran) process.stdout.write(`applied ${name}\n`)
      process.stdout.write(
        ran.length
          ? `database (${report.dialect}) migrated: ${report.applied.length} migrations applied\n`
          : `database (${report.dialect}) is up to date: ${report.applied.length} migrations applied\n`,
      )
    }
    if (report.missing.length) throw new CliExit(EXIT.someFailed)
  } finally {
    await close()
  }
}

function describe(r: SchemaReport): string[] {
  const lines = [`${r.dialect}: ${r.applied.length} migrations applied, ${r.pending.length} pending`]
  for (const n of r.pending) lines.push(`  pending: ${n} (run: aso db migrate)`)
  for (const n of r.unknown)
    lines.push(`  unknown: ${n} was applied by a newer ASO; upgrade this ASO before running it here`)
  for (const m of r.missing)
    lines.push(`  drift: ${m} is missing (it was changed by hand, or a migration failed)`)
  for (const x of r.extra) lines.push(`  note: ${x} is not made by the migrations`)
  if (!r.pending.length && !r.missing.length && !r.unknown.length) lines.push('schema is up to date')
  return lines
}

/** `aso db check`: pending migrations and schema drift; exit 1 if a migration is pending or the schema drifted. */
export async function dbCheckCommand(opts: GlobalOptions & { json?: boolean }) {
  const { store, close } = await openUnmigrated(opts)
  try {
    const report = await checkSchema(store)
    if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
    else process.stdout.write(`${describe(report).join('\n')}\n`)
    if (report.pending.length || report.missing.length || report.unknown.length)
      throw new CliExit(EXIT.someFailed)
  } finally {
    await close()
  }
}
