import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * Publication (issue 12): blocks of published files, a file's publication failure, and the publication state
 * an event set. The indexes are partial on publishable files, so that a queue without publication pays
 * nothing for them on insert: the publisher's reads (DONE files not yet in a block; files of a dataset still
 * on their way) and status's counts by user and task.
 */
export function publication(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('publication_blocks')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('dataset', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('rse', 'text', (c) => c.notNull())
        .addColumn('rule_account', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('opened_at', bigint, (c) => c.notNull())
        .addColumn('close_reason', 'text')
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', bigint)
        .addColumn('failure_class', 'text')
        .addColumn('failure_reason', 'text')
        .addColumn('rule_id', 'text')
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .addColumn('published_at', bigint)
        .execute()
      await db.schema
        .createIndex('publication_blocks_open')
        .on('publication_blocks')
        .columns(['user', 'dataset', 'destination', 'scope', 'state'])
        .execute()
      await db.schema
        .createIndex('publication_blocks_due')
        .on('publication_blocks')
        .columns(['state', 'next_attempt_at'])
        .execute()
      await db.schema.alterTable('transfers').addColumn('publication_class', 'text').execute()
      await db.schema.alterTable('transfers').addColumn('publication_reason', 'text').execute()
      await db.schema.alterTable('events').addColumn('publication', 'text').execute()
      await db.schema
        .createIndex('transfers_publication_wait')
        .on('transfers')
        .columns(['user', 'dataset', 'state'])
        .where(sql.ref('publication_state'), '=', 'PENDING')
        .execute()
      await db.schema
        .createIndex('transfers_publication_counts')
        .on('transfers')
        .columns(['user', 'task', 'publication_state'])
        .where(sql.ref('publication_state'), '<>', 'NOT_REQUIRED')
        .execute()
      await db.schema
        .createIndex('transfers_block')
        .on('transfers')
        .column('block_name')
        .where(sql.ref('block_name'), 'is not', null)
        .execute()
    },
  }
}
