import type { StoreContext } from '../context.js'
import type { Trx } from '../dialect.js'
import { recordAudit } from './audit.js'

export interface Hold {
  id: number
  user: string
  site: string
  class: string
  reason: string
  since: number
  until: number
}

export async function activeHolds(trx: Trx, now: number): Promise<Hold[]> {
  const rows = await trx
    .selectFrom('holds')
    .selectAll()
    .where('released_at', 'is', null)
    .where('until', '>', now)
    .execute()
  return rows.map((r) => ({
    id: Number(r.id),
    user: r.user,
    site: r.site,
    class: r.class,
    reason: r.reason,
    since: Number(r.since),
    until: Number(r.until),
  }))
}

export async function addHold(trx: Trx, hold: Omit<Hold, 'id'>, actor: string) {
  await trx
    .insertInto('holds')
    .values({ ...hold, released_at: null })
    .execute()
  await recordAudit(trx, {
    at: hold.since,
    actor,
    action: 'hold',
    target: `${hold.user}@${hold.site}`,
    detail: hold,
  })
}

/**
 * Places a hold, or renews the one of the same (user, site, class) not yet released (its reason and end, keeping
 * when it began): a hold renewed every recheck stays one row and one audit entry. True when it is new.
 */
export async function renewHold(trx: Trx, hold: Omit<Hold, 'id'>, actor: string): Promise<boolean> {
  const existing = await trx
    .selectFrom('holds')
    .select('id')
    .where('user', '=', hold.user)
    .where('site', '=', hold.site)
    .where('class', '=', hold.class)
    .where('released_at', 'is', null)
    .orderBy('since')
    .executeTakeFirst()
  if (!existing) {
    await addHold(trx, hold, actor)
    return true
  }
  await trx
    .updateTable('holds')
    .set({ reason: hold.reason, until: hold.until })
    .where('id', '=', existing.id)
    .execute()
  return false
}

export async function releaseHolds(
  trx: Trx,
  sel: { user: string; site?: string; class?: string },
  now: number,
  actor: string,
) {
  let q = trx
    .updateTable('holds')
    .set({ released_at: now })
    .where('user', '=', sel.user)
    .where('released_at', 'is', null)
  if (sel.site) q = q.where('site', '=', sel.site)
  if (sel.class) q = q.where('class', '=', sel.class)
  const r = await q.executeTakeFirst()
  const n = Number(r.numUpdatedRows)
  if (n) await recordAudit(trx, { at: now, actor, action: 'release-hold', target: sel.user, detail: sel })
  return n
}

/** The store's door for holds: a user's files to one site wait (credential, quota) instead of failing. */
export interface HoldOps {
  activeHolds(now: number): Promise<Hold[]>
  addHold(hold: Omit<Hold, 'id'>, actor: string): Promise<void>
  /** places a hold, or renews the unreleased one of the same user, site and class; true when new */
  renewHold(hold: Omit<Hold, 'id'>, actor: string): Promise<boolean>
  releaseHolds(
    sel: { user: string; site?: string; class?: string },
    now: number,
    actor: string,
  ): Promise<number>
}

export function holdOps(s: StoreContext): HoldOps {
  return {
    activeHolds: (now) => s.tx((trx) => activeHolds(trx, now)),
    addHold: (hold, actor) => s.tx((trx) => addHold(trx, hold, actor)),
    renewHold: (hold, actor) => s.tx((trx) => renewHold(trx, hold, actor)),
    releaseHolds: (sel, now, actor) => s.tx((trx) => releaseHolds(trx, sel, now, actor)),
  }
}
