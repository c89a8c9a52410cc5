import type BetterSqlite3 from 'better-sqlite3'
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely'
import { isRowBatch } from '../row-batch.js'

/**
 * better-sqlite3 12's native objects must never be garbage-collected on Node 24 and later. Their node::ObjectWrap
 * destructor (Node 24's headers) removes an environment cleanup hook, finding the environment through the current
 * context; V8 may run that destructor from a collection outside any context (one a task of the event loop started,
 * not JavaScript), where Node finds no environment and aborts the process: `Assertion failed: (env) != nullptr`
 * in node::RemoveEnvironmentCleanupHook from Statement::~Statement(), at any moment after a statement became
 * garbage (a PRAGMA, a statement evicted from the cache, a closed database). So every database and statement is
 * held here until the process ends, when Node's own cleanup hooks free them inside the environment. Closing a
 * database still finalizes its statements: what stays is their small wrappers. Node 20's headers lack that hook,
 * and 22's (22.23) too, but a backport would abort there without warning: kept from 22 on.
 */
const KEEP_NATIVE_OBJECTS = Number(process.versions.node.split('.')[0]) >= 22
const kept: object[] = []

/** Holds a better-sqlite3 database or statement until the process ends, where its collection could abort it. */
export function keepNative<T extends object>(o: T): T {
  if (KEEP_NATIVE_OBJECTS) kept.push(o)
  return o
}

/** Kysely's SQLite driver with two changes: write transactions begin IMMEDIATE, and statements are cached. */
class CachedConnection implements DatabaseConnection {
  private readonly cache = new Map<string, BetterSqlite3.Statement>()

  constructor(private readonly db: BetterSqlite3.Database) {}

  private prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.cache.get(sql)
    if (!stmt) {
      stmt = keepNative(this.db.prepare(sql))
      // a bounded cache: large IN lists make many distinct statements
      if (this.cache.size >= 500) this.cache.delete(this.cache.keys().next().value as string)
      this.cache.set(sql, stmt)
    }
    return stmt
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.prepare(compiled.sql)
    if (isRowBatch(compiled)) {
      const rows = compiled.rowBatch.map((p) => {
        const r = stmt.run(p as unknown[])
        return { changes: r.changes, insertId: Number(r.lastInsertRowid) }
      })
      return { rows: rows as R[] }
    }
    const params = compiled.parameters as unknown[]
    if (stmt.reader) return { rows: stmt.all(params) as R[] }
    const { changes, lastInsertRowid } = stmt.run(params)
    return { numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] }
  }

  // biome-ignore lint/correctness/useYield: streaming is not used by the store
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported by the ASO SQLite driver')
  }
}

class Mutex {
  private tail: Promise<void> = Promise.resolve()
  private release: (() => void) | null = null

  async lock(): Promise<void> {
    const prev = this.tail
    let release!: () => void
    this.tail = new Promise((r) => {
      release = r
    })
    await prev
    this.release = release
  }

  unlock(): void {
    const r = this.release
    this.release = null
    r?.()
  }
}

class AsoSqliteDriver implements Driver {
  private readonly mutex = new Mutex()
  private connection!: CachedConnection

  constructor(private readonly db: BetterSqlite3.Database) {}

  async init(): Promise<void> {
    this.connection = new CachedConnection(this.db)
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    // SQLite has one connection: queries and transactions take turns
    await this.mutex.lock()
    return this.connection
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin immediate'))
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'))
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'))
  }

  async releaseConnection(): Promise<void> {
    this.mutex.unlock()
  }

  async destroy(): Promise<void> {
    this.db.close()
  }
}

export class AsoSqliteDialect implements Dialect {
  constructor(private readonly db: BetterSqlite3.Database) {}
  createDriver(): Driver {
    return new AsoSqliteDriver(this.db)
  }
  createQueryCompiler() {
    return new SqliteQueryCompiler()
  }
  createAdapter() {
    return new SqliteAdapter()
  }
  // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector takes any database
  createIntrospector(db: Kysely<any>) {
    return new SqliteIntrospector(db)
  }
}
