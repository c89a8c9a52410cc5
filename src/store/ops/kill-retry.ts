import type { StoreContext, StorePolicy } from '../context.js'
import type { Trx } from '../dialect.js'
import { applyCountDeltas, type CountDeltas, transition } from '../transition.js'
import { cleanupOnEnd } from './cleanup-schedule.js'
import { type FinishedTally, recordFinished, tallyFinished } from './finished-buckets.js'
import { closeJobIfDone } from './submission.js'
import { enqueueTerminalNotifications } from './webhook-outbox.js'

export interface Selector {
  ids?: readonly string[]
  task?: string
  /** restrict to one owner (users act only on their own files) */
  user?: string
}

/** Ids and states of the records a selector names (bounded by the caller's id list or one task). */
async function select(trx: Trx, sel: Selector, states: string[]) {
  if (!sel.ids && !sel.task) throw new Error('a selector needs ids or a task')
  let q = trx.selectFrom('transfers').select(['id', 'state', 'engine_job_id']).where('state', 'in', states)
  if (sel.ids) q = q.where('id', 'in', sel.ids.length ? [...sel.ids] : [''])
  if (sel.task) q = q.where('task', '=', sel.task)
  if (sel.user) q = q.where('user', '=', sel.user)
  return q.execute()
}

/** Kill: files no engine holds end KILLED now; files an engine holds go to KILLING for the killer. */
export async function kill(
  trx: Trx,
  sel: Selector,
  reason: string,
  now: number,
  actor: string,
  policy: StorePolicy,
) {
  const rows = await select(trx, sel, ['NEW', 'RETRY', 'SUBMITTING', 'SUBMITTED'])
  const deltas: CountDeltas = new Map()
  const finished: FinishedTally = new Map()
  let killed = 0
  let killing = 0
  for (const from of ['NEW', 'RETRY'] as const) {
    const ids = rows.filter((r) => r.state === from).map((r) => r.id)
    if (!ids.length) continue
    const changed = await transition(
      trx,
      {
        event: 'killQueued',
        from,
        ids,
        set: {
          finished_at: now,
          failure_class: 'killed',
          failure_reason: reason,
          hold_reason: null,
          next_attempt_at: null,
          ...cleanupOnEnd('KILLED', policy, now),
        },
        reason,
        actor,
        now,
      },
      deltas,
    )
    killed += changed.length
    tallyFinished(finished, changed, 'KILLED', 'killed')
    await enqueueTerminalNotifications(
      trx,
      changed.map((c) => c.id),
      now,
    )
  }
  for (const from of ['SUBMITTING', 'SUBMITTED'] as const) {
    const ids = rows.filter((r) => r.state === from).map((r) => r.id)
    if (!ids.length) continue
    const changed = await transition(trx, { event: 'killInFlight', from, ids, reason, actor, now }, deltas)
    killing += changed.length
    const jobs = [...new Set(changed.map((c) => c.engine_job_id).filter((j): j is string => j !== null))]
    if (jobs.length) {
      await trx
        .updateTable('engine_jobs')
        .set({ cancel_requested_at: now })
        .where('job_id', 'in', jobs)
        .execute()
    }
  }
  await applyCountDeltas(trx, deltas)
  await recordFinished(trx, finished, now)
  return { killed, killing }
}

/** A new round of attempts for FAILED or KILLED files; DONE files are refused (only a supersede reopens them). */
export async function retry(trx: Trx, sel: Selector, now: number, actor: string) {
  const rows = await select(trx, sel, ['FAILED', 'KILLED', 'DONE'])
  const deltas: CountDeltas = new Map()
  let retried = 0
  for (const from of ['FAILED', 'KILLED'] as const) {
    const ids = rows.filter((r) => r.state === from).map((r) => r.id)
    if (!ids.length) continue
    const changed = await transition(
      trx,
      {
        event: 'userRetry',
        from,
        ids,
        set: {
          attempt: 1,
          finished_at: null,
          failure_class: null,
          failure_reason: null,
          hold_reason: null,
          next_attempt_at: null,
          source_cleanup: 'NONE',
          cleanup_at: null,
        },
        reason: `retry asked by ${actor}`,
        actor,
        now,
      },
      deltas,
    )
    retried += changed.length
  }
  await applyCountDeltas(trx, deltas)
  return { retried, refused: rows.filter((r) => r.state === 'DONE').length }
}

/** Engine jobs with files whose cancel is not yet sent (or was asked again since). */
export async function pendingCancels(trx: Trx, limit: number) {
  const jobs = await trx
    .selectFrom('engine_jobs')
    .select(['job_id', 'engine', 'agent_id'])
    .where('state', '=', 'SUBMITTED')
    .where('cancel_requested_at', 'is not', null)
    .where((eb) =>
      eb.or([eb('cancel_sent_at', 'is', null), eb('cancel_sent_at', '<', eb.ref('cancel_requested_at'))]),
    )
    .limit(limit)
    .execute()
  const out: { jobId: string; engine: string; agentId: string | null; ids: string[] }[] = []
  for (const j of jobs) {
    const ids = await trx
      .selectFrom('transfers')
      .select('id')
      .where('engine_job_id', '=', j.job_id)
      .where('state', '=', 'KILLING')
      .execute()
    out.push({ jobId: j.job_id, engine: j.engine, agentId: j.agent_id, ids: ids.map((i) => i.id) })
  }
  return out
}

export async function markCancelSent(trx: Trx, jobId: string, now: number) {
  await trx.updateTable('engine_jobs').set({ cancel_sent_at: now }).where('job_id', '=', jobId).execute()
}

/** KILLING → KILLED (or NEW for a pending supersede) once the attempt is gone. */
export async function confirmKilled(
  trx: Trx,
  ids: readonly string[],
  reason: string,
  now: number,
  actor: string,
  policy: StorePolicy,
) {
  const rows = await trx
    .selectFrom('transfers')
    .select(['id', 'supersede_pending', 'engine_job_id'])
    .where('id', 'in', ids.length ? [...ids] : [''])
    .where('state', '=', 'KILLING')
    .execute()
  const deltas: CountDeltas = new Map()
  const plain = rows.filter((r) => Number(r.supersede_pending) === 0).map((r) => r.id)
  const superseded = rows.filter((r) => Number(r.supersede_pending) === 1).map((r) => r.id)
  const killed = await transition(
    trx,
    {
      event: 'killed',
      from: 'KILLING',
      ids: plain,
      set: {
        finished_at: now,
        failure_class: 'killed',
        failure_reason: reason,
        agent_id: null,
        ...cleanupOnEnd('KILLED', policy, now),
      },
      reason,
      actor,
      now,
    },
    deltas,
  )
  const reset = await transition(
    trx,
    {
      event: 'supersede',
      from: 'KILLING',
      ids: superseded,
      set: {
        attempt: 1,
        supersede_pending: 0,
        failure_class: null,
        failure_reason: null,
        finished_at: null,
        agent_id: null,
      },
      reason: `old attempt stopped (${reason}); newer job retry queued`,
      actor,
      now,
    },
    deltas,
  )
  await applyCountDeltas(trx, deltas)
  const finished: FinishedTally = new Map()
  tallyFinished(finished, killed, 'KILLED', 'killed')
  await recordFinished(trx, finished, now)
  await enqueueTerminalNotifications(
    trx,
    killed.map((c) => c.id),
    now,
  )
  for (const jobId of new Set(rows.map((r) => r.engine_job_id).filter((j): j is string => j !== null))) {
    await closeJobIfDone(trx, jobId, now)
  }
  return killed.length + reset.length
}

/** The store's door for users' and operators' kills and retries, and the killer's cancels. */
export interface KillRetryOps {
  kill(
    sel: Selector,
    reason: string,
    now: number,
    actor: string,
  ): Promise<{ killed: number; killing: number }>
  retry(sel: Selector, now: number, actor: string): Promise<{ retried: number; refused: number }>
  /** engine jobs with files to cancel (KILLING and the cancel not yet sent) */
  pendingCancels(
    limit: number,
  ): Promise<{ jobId: string; engine: string; agentId: string | null; ids: string[] }[]>
  markCancelSent(jobId: string, now: number): Promise<void>
  /** KILLING → KILLED for files whose engine attempt is gone (engine confirmed, or the job is unknown) */
  confirmKilled(ids: readonly string[], reason: string, now: number, actor: string): Promise<number>
}

export function killRetryOps(s: StoreContext): KillRetryOps {
  return {
    kill: (sel, reason, now, actor) => s.tx((trx) => kill(trx, sel, reason, now, actor, s.policy)),
    retry: (sel, now, actor) => s.tx((trx) => retry(trx, sel, now, actor)),
    pendingCancels: (limit) => s.tx((trx) => pendingCancels(trx, limit)),
    markCancelSent: (jobId, now) => s.tx((trx) => markCancelSent(trx, jobId, now)),
    confirmKilled: (ids, reason, now, actor) =>
      s.tx((trx) => confirmKilled(trx, ids, reason, now, actor, s.policy)),
  }
}
