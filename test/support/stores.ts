import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { openStore } from '../../src/store/open.js'
import type { Store, StorePolicy } from '../../src/store/types.js'

/** A way to get a fresh, migrated store of one dialect: store tests run against each. */
export interface StoreFactory {
  name: string
  open(policy?: StorePolicy): Promise<Store>
}

export const sqliteFactory: StoreFactory = {
  name: 'sqlite',
  async open(policy) {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-store-'))
    return openStore(`sqlite:${path.join(dir, 'aso.db')}`, policy ? { policy } : {})
  },
}

/** Every dialect available in this run (PostgreSQL joins when the test setup provides one). */
export function storeFactories(): StoreFactory[] {
  return [sqliteFactory]
}
