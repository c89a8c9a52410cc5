import type { Kysely, Migration } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * The CouchDB bridge (issue 19, docs/couchdb-bridge.md): the feed's checkpoint and the write-back cursor in the
 * event stream (`couch_feeds`, one row per followed database), and one row per document seen in state `new`
 * (`couch_docs`): the transfer it became, the revisions the bridge has accounted for (read from the feed or
 * written itself), the state the document holds as far as the bridge knows, and `pending`, a generation
 * counter: > 0 means a write-back is due; a write-back clears only the generation it read.
 */
export function couchdb(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('couch_feeds')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'text', (c) => c.notNull())
        .addColumn('event_cursor', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('read_at', bigint)
        .addColumn('caught_up_at', bigint)
        .addColumn('behind', bigint)
        .addColumn('ingested', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('rejected', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('kills', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('retries', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('written', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('conflicts', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('forbidden', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('couch_docs')
        .addColumn('doc_id', 'text', (c) => c.primaryKey())
        .addColumn('feed', 'text', (c) => c.notNull())
        .addColumn('transfer_id', 'text')
        .addColumn('seen_rev', 'text')
        .addColumn('written_rev', 'text')
        .addColumn('doc_state', 'text', (c) => c.notNull())
        .addColumn('intent_state', 'text')
        .addColumn('pending', bigint, (c) => c.notNull().defaultTo(0))
        .addColumn('rejected_reason', 'text')
        .addColumn('publication_note', 'text')
        .addColumn('deleted', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('ingested_at', bigint, (c) => c.notNull())
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .execute()
      await db.schema.createIndex('couch_docs_transfer').on('couch_docs').column('transfer_id').execute()
      await db.schema
        .createIndex('couch_docs_pending')
        .on('couch_docs')
        .columns(['pending', 'doc_id'])
        .execute()
    },
  }
}
