import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * Events carry the id of the transaction that wrote them (PostgreSQL): a row with a lower id may commit after
 * one with a higher id, so the event stream follows (xid, id) and shows only rows whose transactions have all
 * ended (see ops/transfer-reads.ts eventsSince). SQLite commits one writer at a time, so id order is commit order there:
 * nothing to add.
 */
export function eventCommitOrder(dialect: DialectName): Migration {
  return {
    async up(db: Kysely<unknown>) {
      if (dialect !== 'postgres') return
      // a volatile default: existing rows get one xid of this migration's transaction, new rows their own
      await sql`alter table events add column xid xid8 not null default pg_current_xact_id()`.execute(db)
      await sql`create index events_stream on events (xid, id)`.execute(db)
    },
  }
}
