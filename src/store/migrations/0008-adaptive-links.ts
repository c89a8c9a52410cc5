import { type Kysely, type Migration, sql } from 'kysely'
import type { DialectName } from '../dialect.js'

/**
 * Adaptive per-link limits (issue 18, docs/adaptive-links.md): `link_settings.adaptive_active` holds the limit
 * the leader's tuner chose for a link (the submitters of every agent apply it; an operator's `max_active`
 * pins the link over it), `adaptive_state` the tuner's memory of the link (JSON) so a new leader goes on where
 * the last one stopped, `tuned_at` when it last looked. Every change the tuner makes is a row of
 * `link_decisions`: when, which link, from and to, why, and the figures it saw.
 */
export function adaptiveLinks(dialect: DialectName): Migration {
  const bigint = dialect === 'postgres' ? 'bigint' : 'integer'
  const autoId =
    dialect === 'postgres'
      ? sql.raw('create table link_decisions (id bigint generated always as identity primary key')
      : sql.raw('create table link_decisions (id integer primary key autoincrement')
  return {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('link_settings').addColumn('adaptive_active', 'integer').execute()
      await db.schema.alterTable('link_settings').addColumn('adaptive_state', 'text').execute()
      await db.schema.alterTable('link_settings').addColumn('tuned_at', bigint).execute()
      await sql`${autoId},
          at ${sql.raw(bigint)} not null, link text not null, from_active integer not null,
          to_active integer not null, reason text not null, measurements text not null)`.execute(db)
      await db.schema
        .createIndex('link_decisions_link')
        .on('link_decisions')
        .columns(['link', 'id'])
        .execute()
    },
  }
}
