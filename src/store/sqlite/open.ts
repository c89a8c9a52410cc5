import { mkdirSync } from 'node:fs'
import path from 'node:path'
import Database from 'better-sqlite3'
import { Kysely } from 'kysely'
import { AsoError } from '../../domain/errors.js'
import type { Database as Schema } from '../schema.js'
import { AsoSqliteDialect, keepNative } from './driver.js'

/**
 * Opens (creating if needed) an SQLite database file: WAL and a 5 s busy timeout, because a CLI and `aso serve`
 * may share one file.
 */
export function openSqlite(file: string): Kysely<Schema> {
  if (file !== ':memory:') {
    try {
      mkdirSync(path.dirname(file), { recursive: true })
    } catch (e) {
      throw new AsoError(
        'unavailable',
        `cannot create the directory of database ${file}: ${(e as Error).message}`,
      )
    }
  }
  let db: Database.Database | undefined
  try {
    db = keepNative(new Database(file))
    // exec, not db.pragma(): a pragma's statement would be garbage at once (see keepNative)
    db.exec(
      'PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; ' +
        'PRAGMA cache_size = -32768; PRAGMA foreign_keys = ON',
    )
  } catch (e) {
    db?.close()
    throw new AsoError('unavailable', `cannot open SQLite database ${file}: ${(e as Error).message}`)
  }
  return new Kysely<Schema>({ dialect: new AsoSqliteDialect(db) })
}
