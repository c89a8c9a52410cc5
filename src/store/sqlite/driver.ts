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

/** Kysely's SQLite driver with two changes: write transactions begin IMMEDIATE, and statements are cached. */
class CachedConnection implements DatabaseConnection {
  private readonly cache = new Map<string, BetterSqlite3.Statement>()

  constructor(private readonly db: BetterSqlite3.Database) {}

  private prepare(sql: string): BetterSqlite3.Statement {
    let stmt = this.cache.get(sql)
    if (!stmt) {
      stmt = this.db.prepare(sql)
      // a bounded cache: large IN lists make many distinct statements
      if (this.cache.size >= 500) this.cache.delete(this.cache.keys().next().value as string)
      this.cache.set(sql, stmt)
    }
    return stmt
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.prepare(compiled.sql)
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
