/**
 * What every store operation is bound to: the database, its dialect's differences, the clean-up policy, and
 * `tx`, the one way an operation opens its transaction.
 */
import type { Kysely } from 'kysely'
import type { DialectOps, Trx } from './dialect.js'
import type { Database } from './schema.js'
import { type EndedTransfer, takeEnded } from './transition.js'

/** Hears of records that ended (DONE, FAILED, KILLED), once per record, after the transaction committed. */
export type EndedListener = (ended: readonly EndedTransfer[]) => void

/** Clean-up policy the store applies when a record ends (from `cleanup:` in aso.yaml). */
export interface StorePolicy {
  deleteSourceOnDone: boolean
  /** FAILED and KILLED sources are kept this long for a retry before the cleaner deletes them */
  tempRetention: number
}

export const DEFAULT_STORE_POLICY: StorePolicy = { deleteSourceOnDone: true, tempRetention: 14 * 86_400_000 }

export interface StoreContext {
  readonly db: Kysely<Database>
  readonly dialect: DialectOps
  readonly policy: StorePolicy
  /** Runs `fn` in a transaction; one the database aborted as a deadlock victim runs again (a few times). */
  tx<T>(fn: (trx: Trx) => Promise<T>): Promise<T>
  /** who hears of the records this store's transactions ended */
  readonly endedListeners: Set<EndedListener>
}

function tell(listeners: Set<EndedListener>, ended: readonly EndedTransfer[]): void {
  for (const listener of listeners) {
    try {
      listener(ended)
    } catch {
      // a listener's failure (metrics, a log line) never fails the store operation that committed
    }
  }
}

export function storeContext(db: Kysely<Database>, dialect: DialectOps, policy: StorePolicy): StoreContext {
  const endedListeners = new Set<EndedListener>()
  return {
    db,
    dialect,
    policy,
    endedListeners,
    async tx<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        try {
          let ended: EndedTransfer[] | undefined
          const result = await db.transaction().execute(async (trx) => {
            const r = await fn(trx)
            ended = takeEnded(trx)
            return r
          })
          // committed: each ended record is told once (a transaction run again told nothing of its first run)
          if (ended) tell(endedListeners, ended)
          return result
        } catch (e) {
          if (attempt >= 5 || !dialect.retryable(e)) throw e
          // a short random pause, so the two sides of a deadlock do not meet again
          await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt))
        }
      }
    },
  }
}
