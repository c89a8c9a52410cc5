import { AsoError } from '../domain/errors.js'
import { sqliteOps } from './dialect.js'
import { DEFAULT_STORE_POLICY, KyselyStore } from './kysely-store.js'
import { openSqlite } from './sqlite/open.js'
import type { Store, StorePolicy } from './types.js'

/** Opens the store a database URL names (`sqlite:PATH`, a plain path, or `postgres://…`) and migrates it. */
export async function openStore(
  url: string,
  opts: { policy?: StorePolicy; migrate?: boolean } = {},
): Promise<Store> {
  const policy = opts.policy ?? DEFAULT_STORE_POLICY
  let store: KyselyStore
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const postgresModule = './postgres/open.js'
    const { openPostgresStore } = await import(postgresModule).catch(() => {
      throw new AsoError(
        'invalid-config',
        'PostgreSQL support is not built into this ASO yet; use sqlite:PATH',
      )
    })
    store = await openPostgresStore(url, policy)
  } else {
    const file = url.startsWith('sqlite:') ? url.slice('sqlite:'.length) : url
    store = new KyselyStore(openSqlite(file), sqliteOps, policy)
  }
  if (opts.migrate !== false) await store.migrate()
  return store
}
