import type { StoreContext } from '../context.js'
import type { Trx } from '../dialect.js'
import { transition } from '../transition.js'

/** RETRY → NEW once the backoff has passed: the next attempt. */
export async function promoteDueRetries(trx: Trx, now: number, limit: number, actor: string) {
  const due = await trx
    .selectFrom('transfers')
    .select('id')
    .where('state', '=', 'RETRY')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute()
  if (due.length === 0) return 0
  const changed = await transition(trx, {
    event: 'retryDue',
    from: 'RETRY',
    ids: due.map((d) => d.id),
    set: (eb) => ({ attempt: eb('attempt', '+', 1), next_attempt_at: null }),
    reason: 'backoff over: next attempt',
    actor,
    now,
  })
  return changed.length
}

/** The store's door for the retrier. */
export interface RetryOps {
  promoteDueRetries(now: number, limit: number, actor: string): Promise<number>
}

export function retryOps(s: StoreContext): RetryOps {
  return {
    promoteDueRetries: (now, limit, actor) => s.tx((trx) => promoteDueRetries(trx, now, limit, actor)),
  }
}
