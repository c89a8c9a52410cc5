import type { Trx } from '../dialect.js'
import type { AgentRow, Hold, LinkSetting } from '../types.js'

export async function audit(
  trx: Trx,
  actor: string,
  action: string,
  target: string,
  detail: unknown,
  now: number,
) {
  await trx
    .insertInto('audit')
    .values({ at: now, actor, action, target, detail: JSON.stringify(detail) })
    .execute()
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
  await audit(trx, actor, 'hold', `${hold.user}@${hold.site}`, hold, hold.since)
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
  if (n) await audit(trx, actor, 'release-hold', sel.user, sel, now)
  return n
}

export async function linkSettings(trx: Trx): Promise<LinkSetting[]> {
  const rows = await trx.selectFrom('link_settings').selectAll().execute()
  return rows.map((r) => ({
    link: r.link,
    maxActive: r.max_active === null ? null : Number(r.max_active),
    paused: Number(r.paused) === 1,
  }))
}

export async function setLinkSetting(
  trx: Trx,
  link: string,
  change: { maxActive?: number | null; paused?: boolean },
  actor: string,
  now: number,
) {
  const old = await trx.selectFrom('link_settings').selectAll().where('link', '=', link).executeTakeFirst()
  const row = {
    link,
    max_active: change.maxActive !== undefined ? change.maxActive : (old?.max_active ?? null),
    paused: change.paused !== undefined ? (change.paused ? 1 : 0) : (old?.paused ?? 0),
    updated_at: now,
    updated_by: actor,
  }
  await trx
    .insertInto('link_settings')
    .values(row)
    .onConflict((oc) => oc.column('link').doUpdateSet(row))
    .execute()
  await audit(trx, actor, 'link-setting', link, change, now)
}

export async function userWeights(trx: Trx): Promise<Map<string, number>> {
  const rows = await trx.selectFrom('user_settings').select(['user', 'weight']).execute()
  return new Map(rows.map((r) => [r.user, Number(r.weight)]))
}

export async function setUserWeight(trx: Trx, user: string, weight: number, actor: string, now: number) {
  const row = { user, weight, updated_at: now, updated_by: actor }
  await trx
    .insertInto('user_settings')
    .values(row)
    .onConflict((oc) => oc.column('user').doUpdateSet(row))
    .execute()
  await audit(trx, actor, 'user-weight', user, { weight }, now)
}

/**
 * Records an agent's heartbeat. Returns false when the agent was declared dead (its row is stopped): it must
 * stop at once, since another agent may already own its work (fencing).
 */
export async function heartbeat(trx: Trx, a: Omit<AgentRow, 'stoppedAt'>): Promise<boolean> {
  const existing = await trx
    .selectFrom('agents')
    .select('stopped_at')
    .where('id', '=', a.id)
    .executeTakeFirst()
  if (existing && existing.stopped_at !== null) return false
  const row = {
    id: a.id,
    host: a.host,
    pid: a.pid,
    started_at: a.startedAt,
    heartbeat_at: a.heartbeatAt,
    loops: JSON.stringify(a.loops),
    stopped_at: null,
  }
  await trx
    .insertInto('agents')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: row.heartbeat_at, loops: row.loops }))
    .execute()
  // agents stopped a day ago are history: keep the table small
  await trx
    .deleteFrom('agents')
    .where('stopped_at', '<', a.heartbeatAt - 86_400_000)
    .execute()
  return true
}

export async function agents(trx: Trx): Promise<AgentRow[]> {
  const rows = await trx
    .selectFrom('agents')
    .selectAll()
    .where('stopped_at', 'is', null)
    .orderBy('started_at')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: Number(r.pid),
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    loops: JSON.parse(r.loops) as Record<string, number>,
    stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at),
  }))
}
