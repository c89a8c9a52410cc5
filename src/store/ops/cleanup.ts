import type { TransferState } from '../../domain/states.js'
import type { StoreContext } from '../context.js'
import { chunk, type Trx } from '../dialect.js'
import { insertHistory, RETURNED_COLUMNS } from '../transition.js'

export interface CleanupItem {
  id: string
  user: string
  source: string
  sourceLfn: string
  state: TransferState
}

/** Temporary sources whose deletion is due (DONE files at once, FAILED/KILLED after the retention). */
export async function dueCleanups(trx: Trx, now: number, limit: number): Promise<CleanupItem[]> {
  const rows = await trx
    .selectFrom('transfers')
    .select(['id', 'user', 'source', 'source_lfn', 'state'])
    .where('source_cleanup', '=', 'PENDING')
    .where('cleanup_at', '<=', now)
    .orderBy('cleanup_at')
    .limit(limit)
    .execute()
  return rows.map((r) => ({
    id: r.id,
    user: r.user,
    source: r.source,
    sourceLfn: r.source_lfn,
    state: r.state as TransferState,
  }))
}

/** Records what the cleaner did; only records still PENDING and terminal change (a retry may have reopened one). */
export async function recordCleanup(
  trx: Trx,
  results: readonly { id: string; outcome: 'DONE' | 'FAILED' | 'SKIPPED'; reason: string }[],
  now: number,
  actor: string,
) {
  for (const outcome of ['DONE', 'FAILED', 'SKIPPED'] as const) {
    const group = results.filter((r) => r.outcome === outcome)
    for (const part of chunk(group, 500)) {
      const changed = await trx
        .updateTable('transfers')
        .set({ source_cleanup: outcome, cleanup_at: null })
        .where(
          'id',
          'in',
          part.map((p) => p.id),
        )
        .where('source_cleanup', '=', 'PENDING')
        .where('state', 'in', ['DONE', 'FAILED', 'KILLED'])
        .returning([...RETURNED_COLUMNS, 'state'])
        .execute()
      const reasons = new Map(part.map((p) => [p.id, p.reason]))
      await insertHistory(
        trx,
        changed.map((c) => ({
          transfer: c,
          from: c.state as TransferState,
          to: c.state as TransferState,
          reason: `source clean-up ${outcome.toLowerCase()}: ${reasons.get(c.id)}`,
        })),
        actor,
        now,
      )
    }
  }
}

/** The store's door for the cleaner. */
export interface CleanupOps {
  dueCleanups(now: number, limit: number): Promise<CleanupItem[]>
  recordCleanup(
    results: readonly { id: string; outcome: 'DONE' | 'FAILED' | 'SKIPPED'; reason: string }[],
    now: number,
    actor: string,
  ): Promise<void>
}

export function cleanupOps(s: StoreContext): CleanupOps {
  return {
    dueCleanups: (now, limit) => s.tx((trx) => dueCleanups(trx, now, limit)),
    recordCleanup: (results, now, actor) => s.tx((trx) => recordCleanup(trx, results, now, actor)),
  }
}
