import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/** The first schema: transfers, engine jobs, history, rollups, holds, settings, audit, agents, leases. */
export function initial(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  const autoId = (t: string) =>
    dialect === 'postgres'
      ? sql.raw(`create table ${t} (id bigint generated always as identity primary key`)
      : sql.raw(`create table ${t} (id integer primary key autoincrement`)

  return {
    async up(db: Kysely<unknown>) {
      // rows are clustered by `seq` (injection order): files handled together sit on the same pages, and so
      // do their history rows; the hash id is a unique secondary key
      await db.schema
        .createTable('transfers')
        .addColumn('seq', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
          dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('grp', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('job_id', 'text', (c) => c.notNull())
        .addColumn('job_retry', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('source_lfn', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('destination_lfn', 'text', (c) => c.notNull())
        .addColumn('size', bigint, (c) => c.notNull())
        .addColumn('adler32', 'text', (c) => c.notNull())
        .addColumn('priority', 'integer', (c) => c.notNull())
        .addColumn('activity', 'text', (c) => c.notNull())
        .addColumn('publish', 'integer', (c) => c.notNull())
        .addColumn('dataset', 'text')
        .addColumn('callback_url', 'text')
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('hold_reason', 'text')
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('max_attempts', 'integer', (c) => c.notNull())
        .addColumn('submissions', 'integer', (c) => c.notNull())
        .addColumn('next_attempt_at', bigint)
        .addColumn('engine', 'text')
        .addColumn('engine_job_id', 'text')
        .addColumn('engine_file_id', 'text')
        .addColumn('agent_id', 'text')
        .addColumn('method', 'text')
        .addColumn('failure_class', 'text')
        .addColumn('failure_reason', 'text')
        .addColumn('supersede_pending', 'integer', (c) => c.notNull())
        .addColumn('created_at', bigint, (c) => c.notNull())
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .addColumn('submitted_at', bigint)
        .addColumn('finished_at', bigint)
        .addColumn('source_cleanup', 'text', (c) => c.notNull())
        .addColumn('cleanup_at', bigint)
        .addColumn('publication_state', 'text', (c) => c.notNull())
        .addColumn('block_name', 'text')
        .execute()
      // the submitter's queue: per link and user, best priority first, oldest first
      await db.schema
        .createIndex('transfers_new_queue')
        .on('transfers')
        .columns(['source', 'destination', 'user', 'grp', 'role', 'priority desc', 'created_at', 'id'])
        .where(sql.ref('state'), '=', 'NEW')
        .execute()
      await db.schema.createIndex('transfers_engine_job').on('transfers').column('engine_job_id').execute()
      await db.schema
        .createIndex('transfers_retry_due')
        .on('transfers')
        .column('next_attempt_at')
        .where(sql.ref('state'), '=', 'RETRY')
        .execute()
      await db.schema
        .createIndex('transfers_cleanup_due')
        .on('transfers')
        .column('cleanup_at')
        .where(sql.ref('source_cleanup'), '=', 'PENDING')
        .execute()
      await db.schema.createIndex('transfers_task').on('transfers').columns(['task', 'state']).execute()
      await db.schema
        .createIndex('transfers_user_updated')
        .on('transfers')
        .columns(['user', 'updated_at'])
        .execute()
      await db.schema.createIndex('transfers_updated').on('transfers').columns(['updated_at', 'id']).execute()

      await db.schema
        .createTable('engine_jobs')
        .addColumn('job_id', 'text', (c) => c.primaryKey())
        .addColumn('engine', 'text', (c) => c.notNull())
        .addColumn('agent_id', 'text')
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('grp', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('files', 'integer', (c) => c.notNull())
        .addColumn('created_at', bigint, (c) => c.notNull())
        .addColumn('submitted_at', bigint)
        .addColumn('finished_at', bigint)
        .addColumn('last_polled_at', bigint, (c) => c.notNull())
        .addColumn('last_progress_at', bigint, (c) => c.notNull())
        .addColumn('cancel_requested_at', bigint)
        .addColumn('cancel_sent_at', bigint)
        .execute()
      await db.schema
        .createIndex('engine_jobs_open')
        .on('engine_jobs')
        .columns(['state', 'last_polled_at'])
        .where(sql.ref('state'), 'in', ['SUBMITTING', 'SUBMITTED'])
        .execute()
      await db.schema
        .createIndex('engine_jobs_agent')
        .on('engine_jobs')
        .columns(['agent_id', 'state'])
        .execute()

      await sql`${autoId('events')},
          at ${sql.raw(bigint)} not null, transfer_seq ${sql.raw(bigint)} not null, transfer_id text not null,
          "user" text not null, task text not null,
          from_state text, to_state text not null, reason text not null, attempt integer not null,
          engine_job_id text, actor text not null)`.execute(db)
      // by seq, not by the hash id: a batch's history rows land on a few adjacent index pages
      await db.schema.createIndex('events_transfer').on('events').columns(['transfer_seq', 'id']).execute()

      await db.schema
        .createTable('transfer_counts')
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('grp', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('n', bigint, (c) => c.notNull())
        .addColumn('bytes', bigint, (c) => c.notNull())
        .addPrimaryKeyConstraint('transfer_counts_pk', [
          'source',
          'destination',
          'user',
          'grp',
          'role',
          'state',
        ])
        .execute()
      await db.schema.createIndex('transfer_counts_state').on('transfer_counts').columns(['state']).execute()

      await sql`${autoId('holds')},
          "user" text not null, site text not null, class text not null, reason text not null,
          since ${sql.raw(bigint)} not null, until ${sql.raw(bigint)} not null, released_at ${sql.raw(bigint)})`.execute(
        db,
      )
      await db.schema.createIndex('holds_user').on('holds').columns(['user', 'site']).execute()

      await db.schema
        .createTable('link_settings')
        .addColumn('link', 'text', (c) => c.primaryKey())
        .addColumn('max_active', 'integer')
        .addColumn('paused', 'integer', (c) => c.notNull())
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('user_settings')
        .addColumn('user', 'text', (c) => c.primaryKey())
        .addColumn('weight', 'real', (c) => c.notNull())
        .addColumn('updated_at', bigint, (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute()
      await sql`${autoId('audit')},
          at ${sql.raw(bigint)} not null, actor text not null, action text not null, target text not null,
          detail text not null)`.execute(db)
      await db.schema
        .createTable('agents')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('pid', 'integer', (c) => c.notNull())
        .addColumn('started_at', bigint, (c) => c.notNull())
        .addColumn('heartbeat_at', bigint, (c) => c.notNull())
        .addColumn('loops', 'text', (c) => c.notNull())
        .addColumn('stopped_at', bigint)
        .execute()
      await db.schema
        .createTable('leases')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('holder', 'text', (c) => c.notNull())
        .addColumn('until', bigint, (c) => c.notNull())
        .execute()
    },
  }
}
