import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { StorePolicy } from '../../src/store/context.js'
import { openStore } from '../../src/store/open.js'
import type { OutcomePolicy } from '../../src/store/ops/outcomes.js'
import type { Store } from '../../src/store/store.js'
import { startTestPostgres, type TestPostgres } from './postgres.js'

/** A way to get a fresh, migrated store of one dialect: store tests run against each. */
export interface StoreFactory {
  name: string
  open(policy?: StorePolicy): Promise<Store>
  /** The URL of a new, empty (not migrated) database: for migration tests and several stores on one database. */
  emptyDatabase(): Promise<string>
}

export const sqliteFactory: StoreFactory = {
  name: 'sqlite',
  async open(policy) {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-store-'))
    const store = await openStore(`sqlite:${path.join(dir, 'aso.db')}`, policy ? { policy } : {})
    // the directory goes with the store: property tests open thousands
    const close = store.close.bind(store)
    store.close = async () => {
      await close()
      await rm(dir, { recursive: true, force: true })
    }
    return store
  },
  async emptyDatabase() {
    // under the run's temp directory, which the global teardown removes
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-store-'))
    return `sqlite:${path.join(dir, 'aso.db')}`
  },
}

/** One server per test file, started on first use; a database migrated once serves as the template. */
let shared: Promise<TestPostgres> | null = null
let databases = 0

function sharedPostgres(): Promise<TestPostgres> {
  shared ??= (async () => {
    const server = await startTestPostgres()
    const store = await openStore(await server.createDatabase('aso_template'))
    await store.close()
    return server
  })()
  return shared
}

/** Each store a new database, copied from the migrated template (fast, and already at the latest schema). */
export const postgresFactory: StoreFactory = {
  name: 'postgres',
  async open(policy) {
    const server = await sharedPostgres()
    const url = await server.createDatabase(`aso_${++databases}`, 'aso_template')
    return openStore(url, policy ? { policy } : {})
  },
  async emptyDatabase() {
    const server = await sharedPostgres()
    return server.createDatabase(`aso_${++databases}`)
  },
}

/** Stops the PostgreSQL server the factory started (call from afterAll). */
export async function closeStoreFactories(): Promise<void> {
  const s = shared
  shared = null
  if (s) await (await s).remove()
}

/** Every dialect: SQLite, and PostgreSQL on a server the test setup starts itself. */
export function storeFactories(): StoreFactory[] {
  return [sqliteFactory, postgresFactory]
}

/** The outcome policy store tests apply: 1 s backoff doubling to 10 s, no jitter, a minute's quota recheck. */
export const testOutcomePolicy = (now: number, actor = 'test'): OutcomePolicy => ({
  now,
  backoff: { initialMs: 1000, factor: 2, maxMs: 10_000, jitter: 0 },
  quotaRecheck: 60_000,
  maxHold: 3_600_000,
  actor,
})
