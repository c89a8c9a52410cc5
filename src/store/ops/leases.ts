import type { StoreContext } from '../context.js'
import type { Db, Trx } from '../dialect.js'

/** A named lease (leader election for singleton loops): held by `holder` until `until`. */
export interface LeaseRow {
  name: string
  holder: string
  until: number
}

/** What one agent holds: open engine jobs by state, and their files. */
export interface HeldJobs {
  agentId: string | null
  submitting: number
  submitted: number
  files: number
}

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

/** The store's door for leases: singleton loops (retrier, cleaner, …) run on one agent at a time. */
export interface LeaseOps {
  /** open engine jobs and files per holding agent (`aso agents`) */
  heldJobs(): Promise<HeldJobs[]>
  /** Takes or renews lease `name` for `holder` for `ttlMs` if free, expired or already its own; whether held. */
  acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>
  /** Gives up every lease these holders hold (graceful stop, agents found dead). */
  releaseLeases(holders: readonly string[]): Promise<number>
  leases(): Promise<LeaseRow[]>
}

export function leaseOps(s: StoreContext): LeaseOps {
  return {
    heldJobs: () => heldJobs(s.db),
    acquireLease: (name, holder, ttlMs, now) => s.tx((trx) => acquireLease(trx, name, holder, ttlMs, now)),
    releaseLeases: (holders) => s.tx((trx) => releaseLeases(trx, holders)),
    leases: () => leases(s.db),
  }
}
