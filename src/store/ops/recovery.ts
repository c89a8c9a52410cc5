import type { TransferState } from '../../domain/states.js'
import { chunk, type Trx } from '../dialect.js'
import {
  applyCountDeltas,
  type CountDeltas,
  insertHistory,
  RETURNED_COLUMNS,
  transition,
} from '../transition.js'
import { closeJob } from './submission.js'

/** An engine job the engine does not know: its files go back to NEW without charging an attempt. */
export async function requeueLostJob(trx: Trx, jobId: string, reason: string, now: number, actor: string) {
  const rows = await trx
    .selectFrom('transfers')
    .select(['id', 'state'])
    .where('engine_job_id', '=', jobId)
    .where('state', 'in', ['SUBMITTING', 'SUBMITTED'])
    .execute()
  const deltas: CountDeltas = new Map()
  let n = 0
  for (const from of ['SUBMITTING', 'SUBMITTED'] as const) {
    const ids = rows.filter((r) => r.state === from).map((r) => r.id)
    if (ids.length === 0) continue
    const changed = await transition(
      trx,
      {
        event: from === 'SUBMITTING' ? 'submitDeferred' : 'requeue',
        from,
        ids,
        engineJobId: jobId,
        set: { agent_id: null },
        reason: `${reason}; back in the queue, no attempt charged`,
        actor,
        now,
      },
      deltas,
    )
    n += changed.length
  }
  await applyCountDeltas(trx, deltas)
  const killing = await trx
    .selectFrom('transfers')
    .select('id')
    .where('engine_job_id', '=', jobId)
    .where('state', '=', 'KILLING')
    .limit(1)
    .executeTakeFirst()
  if (!killing) await closeJob(trx, jobId, 'LOST', now)
  return n
}

/** Moves a dead agent's open engine jobs (and their files) to `agentId`, with a history row per file. */
export async function takeOverJobs(trx: Trx, deadAgentIds: readonly string[], agentId: string, now: number) {
  if (deadAgentIds.length === 0) return []
  const jobs = await trx
    .updateTable('engine_jobs')
    .set({ agent_id: agentId, last_progress_at: now })
    .where('agent_id', 'in', [...deadAgentIds])
    .where('state', 'in', ['SUBMITTING', 'SUBMITTED'])
    .returning(['job_id'])
    .execute()
  const ids = jobs.map((j) => j.job_id)
  for (const part of chunk(ids, 500)) {
    const moved = await trx
      .updateTable('transfers')
      .set({ agent_id: agentId })
      .where('engine_job_id', 'in', part)
      .where('state', 'in', ['SUBMITTING', 'SUBMITTED', 'KILLING'])
      .returning([...RETURNED_COLUMNS, 'state', 'agent_id'])
      .execute()
    await insertHistory(
      trx,
      moved.map((m) => ({
        transfer: m,
        from: m.state as TransferState,
        to: m.state as TransferState,
        reason: `taken over by agent ${agentId}: the agent that held engine job ${m.engine_job_id} stopped`,
      })),
      agentId,
      now,
    )
  }
  return ids
}

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
