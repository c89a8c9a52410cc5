import type { StoreContext } from '../context.js'
import type { Trx } from '../dialect.js'
import { recordAudit } from './audit.js'

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
  await recordAudit(trx, { at: now, actor, action: 'user-weight', target: user, detail: { weight } })
}

/** The store's door for operators' fair-share weights. */
export interface UserWeightOps {
  userWeights(): Promise<Map<string, number>>
  setUserWeight(user: string, weight: number, actor: string, now: number): Promise<void>
}

export function userWeightOps(s: StoreContext): UserWeightOps {
  return {
    userWeights: () => s.tx((trx) => userWeights(trx)),
    setUserWeight: (user, weight, actor, now) => s.tx((trx) => setUserWeight(trx, user, weight, actor, now)),
  }
}
