import { userInfo } from 'node:os'
import pino, { type Logger } from 'pino'
import { type LoadedConfig, loadConfig } from '../config/load.js'
import type { AsoConfig } from '../config/schema.js'
import type { Identity } from '../domain/identity.js'
import { SiteCatalog } from '../sites/catalog.js'
import { openStore } from '../store/open.js'
import type { StoreLog } from '../store/postgres/pool.js'
import type { Store } from '../store/store.js'

export interface GlobalOptions {
  config?: string
  db?: string
  debug?: boolean
}

export interface App {
  loaded: LoadedConfig
  config: AsoConfig
  sites: SiteCatalog
  store: Store
  close(): Promise<void>
}

/** Loads the configuration (with --db over `database:`) and opens the store (migrated, unless told not to). */
export async function openApp(
  opts: GlobalOptions,
  open: { migrate?: boolean; log?: StoreLog } = {},
): Promise<App> {
  const loaded = loadConfig({ path: opts.config })
  const config = opts.db ? { ...loaded.config, database: normaliseDb(opts.db) } : loaded.config
  const store = await openStore(config.database, {
    ...open,
    policy: {
      deleteSourceOnDone: config.cleanup.deleteSourceOnDone,
      tempRetention: config.cleanup.tempRetention,
    },
  })
  return { loaded, config, sites: new SiteCatalog(config), store, close: () => store.close() }
}

export function normaliseDb(db: string): string {
  return /^(sqlite|postgres|postgresql):/.test(db) ? db : `sqlite:${db}`
}

/** Who the local CLI acts as: it has the database in hand, so it acts as an operator for the configured users. */
export function localIdentity(config: AsoConfig): Identity {
  const name = process.env.ASO_USER ?? userInfo().username
  const configured = config.users[name]
  return {
    name,
    role: configured?.role === 'user' ? 'user' : 'admin',
    groups: configured ? configured.groups : null,
    vomsRoles: configured?.vomsRoles ?? [],
  }
}

export { requestContext } from '../sites/request-context.js'

export function makeLogger(level: string, destination?: string): Logger {
  return destination ? pino({ level }, pino.destination({ dest: destination, sync: false })) : pino({ level })
}
