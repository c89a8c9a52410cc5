import type { StoreContext } from '../context.js'
import type { Db, Trx } from '../dialect.js'

export interface AuditEntry {
  id: number
  at: number
  actor: string
  action: string
  target: string
  detail: unknown
}

/** Records an action (kill, retry, link or weight change) in the audit table. */
export async function recordAudit(trx: Trx, e: Omit<AuditEntry, 'id'>): Promise<void> {
  await trx
    .insertInto('audit')
    .values({
      at: e.at,
      actor: e.actor,
      action: e.action,
      target: e.target,
      detail: JSON.stringify(e.detail),
    })
    .execute()
}

/** The newest audit rows first (the primary key), at most `limit`, before the row `before` when given. */
export async function auditLog(db: Db, limit: number, before?: number): Promise<AuditEntry[]> {
  const rows = await db
    .selectFrom('audit')
    .selectAll()
    .$if(before !== undefined, (w) => w.where('id', '<', before!))
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map((r) => {
    let detail: unknown
    try {
      detail = JSON.parse(r.detail)
    } catch (e) {
      // rows written by hand or by an older ASO may hold plain text: show it as it is
      void e
      detail = r.detail
    }
    return { id: Number(r.id), at: Number(r.at), actor: r.actor, action: r.action, target: r.target, detail }
  })
}

/** The store's door for the audit log of operator actions. */
export interface AuditOps {
  recordAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>
  auditLog(limit: number, before?: number): Promise<AuditEntry[]>
}

export function auditOps(s: StoreContext): AuditOps {
  return {
    recordAudit: (entry) => s.tx((trx) => recordAudit(trx, entry)),
    auditLog: (limit, before) => auditLog(s.db, limit, before),
  }
}
