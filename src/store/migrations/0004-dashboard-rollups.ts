import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/** How long minute buckets are kept (the dashboard's last hour, and the last hour of a site's failure rate). */
export const MINUTE_BUCKET_RETENTION_MS = 3 * 3_600_000
/** How long hour buckets are kept (the dashboard's week, and the day a site's failure rate is compared with). */
export const HOUR_BUCKET_RETENTION_MS = 35 * 86_400_000

/**
 * The dashboard's rollups, so that no page scans records (ARCHITECTURE.md invariant 7):
 *
 * - files and bytes that ended DONE, FAILED or KILLED, per time bucket, incremented in the transaction of the
 *   terminal transition (one upsert per table, group and batch): `transfer_minutes` per minute, link, user, state
 *   and failure class (the last hour, kept 3 hours); `transfer_hours` per hour, link, state and class, and
 *   `user_hours` per hour, user and state (the week, kept 35 days). Hours carry no user × link product: a week's
 *   chart reads rows per link or per user, not per pair. Hour rows are written directly, not derived from minutes:
 *   no loop to lag, and no new contention (a transaction that ends files already locks their `transfer_counts`
 *   rows, of a finer grain). The agent's rollup pruner deletes buckets past their retention.
 * - `task_counts`: files per state and bytes of each (task, user), kept in step with `transfer_counts` by every
 *   transition: the task list with its progress bars reads it, newest task first.
 *
 * Existing records are counted in: tasks from all records, buckets from records that ended within retention.
 */
export function dashboardRollups(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('transfer_minutes')
        .addColumn('minute', bigint, (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        // '' for DONE
        .addColumn('failure_class', 'text', (c) => c.notNull())
        .addColumn('files', bigint, (c) => c.notNull())
        .addColumn('bytes', bigint, (c) => c.notNull())
        .addPrimaryKeyConstraint('transfer_minutes_pk', [
          'minute',
          'source',
          'destination',
          'user',
          'state',
          'failure_class',
        ])
        .execute()
      // a user's own last hour without reading everyone's
      await db.schema
        .createIndex('transfer_minutes_user')
        .on('transfer_minutes')
        .columns(['user', 'minute'])
        .execute()
      await db.schema
        .createTable('transfer_hours')
        .addColumn('hour', bigint, (c) => c.notNull())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('destination', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('failure_class', 'text', (c) => c.notNull())
        .addColumn('files', bigint, (c) => c.notNull())
        .addColumn('bytes', bigint, (c) => c.notNull())
        .addPrimaryKeyConstraint('transfer_hours_pk', [
          'hour',
          'source',
          'destination',
          'state',
          'failure_class',
        ])
        .execute()
      await db.schema
        .createTable('user_hours')
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('hour', bigint, (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('files', bigint, (c) => c.notNull())
        .addColumn('bytes', bigint, (c) => c.notNull())
        .addPrimaryKeyConstraint('user_hours_pk', ['user', 'hour', 'state'])
        .execute()
      // the pruner deletes by age
      await db.schema.createIndex('user_hours_hour').on('user_hours').column('hour').execute()

      await db.schema
        .createTable('task_counts')
        // order of the task's first appearance: the task list shows the newest first
        .addColumn('seq', bigint, (c) =>
          dialect === 'postgres'
            ? c.primaryKey().generatedAlwaysAsIdentity()
            : c.primaryKey().autoIncrement(),
        )
        .addColumn('task', 'text', (c) => c.notNull())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('n_new', bigint, (c) => c.notNull())
        .addColumn('n_submitting', bigint, (c) => c.notNull())
        .addColumn('n_submitted', bigint, (c) => c.notNull())
        .addColumn('n_retry', bigint, (c) => c.notNull())
        .addColumn('n_killing', bigint, (c) => c.notNull())
        .addColumn('n_done', bigint, (c) => c.notNull())
        .addColumn('n_failed', bigint, (c) => c.notNull())
        .addColumn('n_killed', bigint, (c) => c.notNull())
        .addColumn('bytes', bigint, (c) => c.notNull())
        .addColumn('done_bytes', bigint, (c) => c.notNull())
        .addUniqueConstraint('task_counts_task_user', ['task', 'user'])
        .execute()
      await db.schema.createIndex('task_counts_user').on('task_counts').columns(['user', 'seq']).execute()

      const n = (state: string) => sql.raw(`sum(case when state = '${state}' then 1 else 0 end)`)
      await sql`insert into task_counts (task, "user", n_new, n_submitting, n_submitted, n_retry, n_killing, n_done,
          n_failed, n_killed, bytes, done_bytes)
        select task, "user", ${n('NEW')}, ${n('SUBMITTING')}, ${n('SUBMITTED')}, ${n('RETRY')}, ${n('KILLING')},
          ${n('DONE')}, ${n('FAILED')}, ${n('KILLED')}, sum(size),
          sum(case when state = 'DONE' then size else 0 end)
        from transfers group by task, "user" order by min(seq)`.execute(db)

      const now = Date.now()
      const ended = sql`state in ('DONE', 'FAILED', 'KILLED')`
      const bucket = (ms: number) => sql`finished_at / ${sql.lit(ms)} * ${sql.lit(ms)}`
      await sql`insert into transfer_minutes (minute, source, destination, "user", state, failure_class, files, bytes)
        select ${bucket(60_000)}, source, destination, "user", state, coalesce(failure_class, ''), count(*), sum(size)
        from transfers where ${ended} and finished_at >= ${now - MINUTE_BUCKET_RETENTION_MS}
        group by ${bucket(60_000)}, source, destination, "user", state, coalesce(failure_class, '')`.execute(
        db,
      )
      await sql`insert into transfer_hours (hour, source, destination, state, failure_class, files, bytes)
        select ${bucket(3_600_000)}, source, destination, state, coalesce(failure_class, ''), count(*), sum(size)
        from transfers where ${ended} and finished_at >= ${now - HOUR_BUCKET_RETENTION_MS}
        group by ${bucket(3_600_000)}, source, destination, state, coalesce(failure_class, '')`.execute(db)
      await sql`insert into user_hours ("user", hour, state, files, bytes)
        select "user", ${bucket(3_600_000)}, state, count(*), sum(size)
        from transfers where ${ended} and finished_at >= ${now - HOUR_BUCKET_RETENTION_MS}
        group by "user", ${bucket(3_600_000)}, state`.execute(db)
    },
  }
}
