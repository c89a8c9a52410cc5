import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * Task owners: a task name belongs to the user who first injected a file into it, so that no other user can
 * add files to it (and so reach its callback URL) or learn that it exists (issue 16, items 4 and 9). The inject
 * transaction claims a new task with an insert that does nothing on conflict, then reads who won.
 *
 * Existing tasks are owned by the user of their first-injected (lowest seq) transfer.
 */
export function taskOwners(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('task_owners')
        .addColumn('task', 'text', (c) => c.primaryKey())
        .addColumn('user', 'text', (c) => c.notNull())
        .addColumn('claimed_at', bigint, (c) => c.notNull())
        .execute()
      await sql`insert into task_owners (task, "user", claimed_at)
        select t.task, t."user", t.created_at
        from transfers t join (select task, min(seq) as seq from transfers group by task) f on t.seq = f.seq`.execute(
        db,
      )
    },
  }
}
