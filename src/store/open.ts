import { DEFAULT_STORE_POLICY, type StorePolicy } from './context.js'
import { sqliteOps } from './dialect.js'
import type { StoreLog } from './postgres/pool.js'
import { openSqlite } from './sqlite/open.js'
import { bindStore, type KyselyStore, type Store } from './store.js'

/** Whether a database URL names PostgreSQL. */
export function isPostgresUrl(url: string): boolean {
  return url.startsWith('postgres://') || url.startsWith('postgresql://')
}

/** Opens the store a database URL names (`sqlite:PATH`, a plain path, or `postgres://…`) and migrates it. */
export async function openStore(
  url: string,
  opts: { policy?: StorePolicy; migrate?: boolean; log?: StoreLog } = {},
): Promise<Store> {
  const policy = opts.policy ?? DEFAULT_STORE_POLICY
  let store: KyselyStore
  if (isPostgresUrl(url)) {
    // loaded only when asked for: SQLite users never load pg
    const { openPostgresStore } = await import('./postgres/open.js')
    store = await openPostgresStore(url, policy, opts.log ? { log: opts.log } : {})
  } else {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url
    store = bindStore(openSqlite(file), sqliteOps, policy)
  }
  if (opts.migrate !== false) {
    try {
      await store.migrate()
    } catch (e) {
      await store.close()
      throw e
    }
  }
  return store
}
