import type { StoreContext } from '../context.js'
import type { Trx } from '../dialect.js'
import { recordAudit } from './audit.js'

export interface LinkSetting {
  link: string
  /** the operator's limit; on an adaptive link it pins the limit until unpinned */
  maxActive: number | null
  paused: boolean
  /** the limit the leader's tuner set (links.*.adaptive); null or absent: not tuned */
  adaptiveActive?: number | null
}

export async function linkSettings(trx: Trx): Promise<LinkSetting[]> {
  const rows = await trx.selectFrom('link_settings').selectAll().execute()
  return rows.map((r) => ({
    link: r.link,
    maxActive: r.max_active === null ? null : Number(r.max_active),
    paused: Number(r.paused) === 1,
    adaptiveActive: r.adaptive_active === null ? null : Number(r.adaptive_active),
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
  await recordAudit(trx, { at: now, actor, action: 'link-setting', target: link, detail: change })
}

/** The store's door for operators' link overrides (limit, pause). */
export interface LinkSettingOps {
  linkSettings(): Promise<LinkSetting[]>
  setLinkSetting(
    link: string,
    change: { maxActive?: number | null; paused?: boolean },
    actor: string,
    now: number,
  ): Promise<void>
}

export function linkSettingOps(s: StoreContext): LinkSettingOps {
  return {
    linkSettings: () => s.tx((trx) => linkSettings(trx)),
    setLinkSetting: (link, change, actor, now) =>
      s.tx((trx) => setLinkSetting(trx, link, change, actor, now)),
  }
}
