import { type Kysely, sql, type Transaction } from 'kysely'
import type { Database } from './schema.js'

export type DialectName = 'sqlite' | 'postgres'

/** The handful of things the two databases do differently. */
export interface DialectOps {
  readonly name: DialectName
  /** Serialises claims on one link across agents (the transaction's own lock on SQLite). */
  lockKey(trx: Transaction<Database>, key: string): Promise<void>
  /** Most bound parameters one statement may carry. */
  readonly maxParams: number
  /** Whether a failed transaction may simply run again (a deadlock or serialization failure). */
  retryable(e: unknown): boolean
}

function hashKey(key: string): number {
  let h = 0
  for (let i = 0; i < key.length; i++) h = (Math.imul(h, 31) + key.charCodeAt(i)) | 0
  return h
}

export const sqliteOps: DialectOps = {
  name: 'sqlite',
  // write transactions begin IMMEDIATE: the whole database is ours until commit
  async lockKey() {},
  maxParams: 30_000,
  // one writer at a time (IMMEDIATE, busy_timeout): no deadlocks to retry
  retryable: () => false,
}

export const postgresOps: DialectOps = {
  name: 'postgres',
  async lockKey(trx, key) {
    await sql`select pg_advisory_xact_lock(${hashKey(key)})`.execute(trx)
  },
  maxParams: 60_000,
  // 40P01 deadlock_detected (two agents' transactions locking rollup cells or records in different orders),
  // 40001 serialization_failure, 23505 unique_violation (the same file injected twice at once: run again, the
  // transaction finds the other's row): PostgreSQL rolled the transaction back whole, running it again is safe
  retryable: (e) => {
    const code = (e as { code?: unknown } | null)?.code
    return code === '40P01' || code === '40001' || code === '23505'
  },
}

export type Db = Kysely<Database>
export type Trx = Transaction<Database>

/** Splits `items` into chunks that keep a statement under the parameter limit. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}
