import type { TransferState } from '../../domain/states.js'
import type { StoreContext } from '../context.js'
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

/** Open engine jobs whose holder is not among the live agents. */
export async function orphanedJobs(
  trx: Trx,
  liveAgentIds: readonly string[],
  limit: number,
): Promise<string[]> {
  let q = trx.selectFrom('engine_jobs').select('job_id').where('state', 'in', ['SUBMITTING', 'SUBMITTED'])
  if (liveAgentIds.length) {
    q = q.where((eb) => eb.or([eb('agent_id', 'is', null), eb('agent_id', 'not in', [...liveAgentIds])]))
  }
  const rows = await q.limit(limit).execute()
  return rows.map((r) => r.job_id)
}

/**
 * Moves open engine jobs (and their files) to `agentId`, with a history row per file. Guarded: only jobs
 * whose holder is stopped or unknown move, so a job another agent took first is left alone. The poll time
 * is reset so no poller declares the job lost before its new holder has resubmitted it.
 */
export async function takeOverJobs(trx: Trx, jobIds: readonly string[], agentId: string, now: number) {
  const taken: string[] = []
  for (const part of chunk(jobIds, 500)) {
    const jobs = await trx
      .updateTable('engine_jobs')
      .set({ agent_id: agentId, last_progress_at: now, last_polled_at: now })
      .where('job_id', 'in', part)
      .where('state', 'in', ['SUBMITTING', 'SUBMITTED'])
      // the holder must be someone else and gone (no agent row that is not stopped), checked again on the row
      // itself: of agents taking over at once only the first gets a job, a later one sees a live holder
      .where((eb) =>
        eb.or([
          eb('agent_id', 'is', null),
          eb.and([
            eb('agent_id', '!=', agentId),
            eb.not(
              eb.exists(
                eb
                  .selectFrom('agents')
                  .select('agents.id')
                  .whereRef('agents.id', '=', 'engine_jobs.agent_id')
                  .where('agents.stopped_at', 'is', null),
              ),
            ),
          ]),
        ]),
      )
      .returning(['job_id'])
      .execute()
    taken.push(...jobs.map((j) => j.job_id))
  }
  for (const part of chunk(taken, 500)) {
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
  return taken
}

/** The store's door for work of agents that died, and engine jobs the engine lost. */
export interface RecoveryOps {
  /** An engine job the engine no longer knows: its files go back to NEW, no attempt charged. */
  requeueLostJob(jobId: string, reason: string, now: number, actor: string): Promise<number>
  /** Moves open engine jobs to `agentId` (guarded by their current holder); returns the job ids taken over. */
  takeOverJobs(jobIds: readonly string[], agentId: string, now: number): Promise<string[]>
  /** ids of open engine jobs held by none of `liveAgentIds` (their agent stopped or vanished) */
  orphanedJobs(liveAgentIds: readonly string[], limit: number): Promise<string[]>
}

export function recoveryOps(s: StoreContext): RecoveryOps {
  return {
    requeueLostJob: (jobId, reason, now, actor) =>
      s.tx((trx) => requeueLostJob(trx, jobId, reason, now, actor)),
    takeOverJobs: (jobIds, agentId, now) => s.tx((trx) => takeOverJobs(trx, jobIds, agentId, now)),
    orphanedJobs: (liveAgentIds, limit) => s.tx((trx) => orphanedJobs(trx, liveAgentIds, limit)),
  }
}
