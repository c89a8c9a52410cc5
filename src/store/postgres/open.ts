import { Kysely, PostgresDialect } from 'kysely'
import type { StorePolicy } from '../context.js'
import { postgresOps } from '../dialect.js'
import type { Database } from '../schema.js'
import { bindStore, type KyselyStore } from '../store.js'
import { ReconnectingPool, type StoreLog, stderrLog } from './pool.js'

/** Opens the store on PostgreSQL (`postgres://user@host:port/db`); checks the server answers. Not migrated. */
export async function openPostgresStore(
  url: string,
  policy: StorePolicy,
  opts: { log?: StoreLog; maxConnections?: number } = {},
): Promise<KyselyStore> {
  const pool = new ReconnectingPool(url, opts.log ?? stderrLog, { max: opts.maxConnections })
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
  const store = bindStore(db, postgresOps, policy)
  try {
    await store.ping()
  } catch (e) {
    await db.destroy()
    throw e
  }
  return store
}
