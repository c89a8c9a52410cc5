import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * The API's needs: the webhook outbox, and indexes for event streams by task and failure counts by class.
 *
 * The webhook outbox: one row per terminal state of a file that carries a callbackUrl, written in the same
 * transaction as the transition (a crash cannot lose a notification); the agent's notifier delivers them.
 */
export function webhooks(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  const autoId =
    dialect === 'postgres'
      ? sql.raw('create table webhook_outbox (id bigint generated always as identity primary key')
      : sql.raw('create table webhook_outbox (id integer primary key autoincrement')
  return {
    async up(db: Kysely<unknown>) {
      await sql`${autoId},
          transfer_id text not null, "user" text not null, task text not null, callback_url text not null,
          payload text not null, state text not null, attempts integer not null,
          created_at ${sql.raw(bigint)} not null, next_attempt_at ${sql.raw(bigint)} not null,
          delivered_at ${sql.raw(bigint)}, last_error text)`.execute(db)
      // the notifier's query: pending rows whose next attempt is due
      await db.schema
        .createIndex('webhook_outbox_due')
        .on('webhook_outbox')
        .columns(['next_attempt_at', 'id'])
        .where(sql.ref('state'), '=', 'PENDING')
        .execute()
      // the outbox's look-up at each terminal transition: files with a callback URL are few, and only they are in it
      await db.schema
        .createIndex('transfers_callback')
        .on('transfers')
        .column('id')
        .where(sql.ref('callback_url'), 'is not', null)
        .execute()
      // event streams and long-polls follow one task: its events without scanning everyone's
      await db.schema.createIndex('events_task').on('events').columns(['task', 'id']).execute()
      // /metrics counts FAILED files by class: a partial index, touched only when a file enters or leaves FAILED
      await db.schema
        .createIndex('transfers_failed_class')
        .on('transfers')
        .column('failure_class')
        .where(sql.ref('state'), '=', 'FAILED')
        .execute()
      // backlog counts for /health and /metrics, and pruning of old delivered rows
      await db.schema
        .createIndex('webhook_outbox_state')
        .on('webhook_outbox')
        .columns(['state', 'created_at'])
        .execute()
    },
  }
}
