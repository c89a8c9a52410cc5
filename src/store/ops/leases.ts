import type { Db, Trx } from '../dialect.js'
import type { HeldJobs, LeaseRow } from '../types.js'

/**
 * Takes lease `name` for `holder` until `now + ttlMs` when it is free, expired, or already the holder's (then
 * it is renewed); one guarded upsert, so of agents asking at once exactly one gets it. Returns whether
 * `holder` holds it now.
 */
export async function acquireLease(trx: Trx, name: string, holder: string, ttlMs: number, now: number) {
  const until = now + ttlMs
  const row = await trx
    .insertInto('leases')
    .values({ name, holder, until })
    .onConflict((oc) =>
      oc
        .column('name')
        .doUpdateSet({ holder, until })
        .where((eb) => eb.or([eb('leases.holder', '=', holder), eb('leases.until', '<', now)])),
    )
    .returning('holder')
    .executeTakeFirst()
  return row !== undefined
}

/** Gives up every lease the given holders hold (an agent stopping, or agents found dead). */
export async function releaseLeases(trx: Trx, holders: readonly string[]): Promise<number> {
  if (holders.length === 0) return 0
  const r = await trx
    .deleteFrom('leases')
    .where('holder', 'in', [...holders])
    .executeTakeFirst()
  return Number(r.numDeletedRows)
}

export async function leases(db: Db): Promise<LeaseRow[]> {
  const rows = await db.selectFrom('leases').selectAll().orderBy('name').execute()
  return rows.map((r) => ({ name: r.name, holder: r.holder, until: Number(r.until) }))
}

/** Open engine jobs and their files, per holding agent (served by the partial index of open jobs). */
export async function heldJobs(db: Db): Promise<HeldJobs[]> {
  const rows = await db
    .selectFrom('engine_jobs')
    .select((eb) => [
      'agent_id',
      'state',
      eb.fn.countAll<number>().as('jobs'),
      eb.fn.sum<number>('files').as('files'),
    ])
    .where('state', 'in', ['SUBMITTING', 'SUBMITTED'])
    .groupBy(['agent_id', 'state'])
    .execute()
  const out = new Map<string, HeldJobs>()
  for (const r of rows) {
    const id = r.agent_id ?? ''
    const h = out.get(id) ?? { agentId: r.agent_id, submitting: 0, submitted: 0, files: 0 }
    if (r.state === 'SUBMITTING') h.submitting += Number(r.jobs)
    else h.submitted += Number(r.jobs)
    h.files += Number(r.files ?? 0)
    out.set(id, h)
  }
  return [...out.values()]
}
