import type { FailureClass } from '../../domain/failures.js'
import type { StoreContext, StorePolicy } from '../context.js'
import type { Trx } from '../dialect.js'
import { runFixed } from '../row-batch.js'
import {
  applyCountDeltas,
  type CountDeltas,
  CURRENT_COLUMNS,
  type CurrentRow,
  transition,
} from '../transition.js'
import { cleanupOnEnd } from './cleanup-schedule.js'
import { type FinishedTally, recordFinished, tallyFinished } from './finished-buckets.js'
import { enqueueTerminalNotifications } from './webhook-outbox.js'

async function membersIn(trx: Trx, jobId: string, state: string): Promise<string[]> {
  const rows = await trx
    .selectFrom('transfers')
    .select('id')
    .where('engine_job_id', '=', jobId)
    .where('state', '=', state)
    .execute()
  return rows.map((r) => r.id)
}

/**
 * SUBMITTING → SUBMITTED for files of a job the engine has accepted (`rows` as this transaction read them). The job
 * itself becomes SUBMITTED only with `wholeJob`, when `rows` are all its members still SUBMITTING: so a job marked
 * SUBMITTED has none left, and marking it again needs no look at its files. With `deltas`, the rollup changes are
 * left for the caller to apply (once, in key order, for several jobs).
 */
export async function markSubmittedRows(
  trx: Trx,
  jobId: string,
  rows: readonly CurrentRow[],
  opts: { now: number; actor: string; wholeJob: boolean },
  deltas?: CountDeltas,
) {
  const { now, actor } = opts
  const changed = await transition(
    trx,
    {
      event: 'submitted',
      from: 'SUBMITTING',
      ids: rows.map((r) => r.id),
      current: new Map(rows.map((r) => [r.id, r])),
      engineJobId: jobId,
      set: { submitted_at: now },
      reason: `accepted by the engine as job ${jobId}`,
      actor,
      now,
    },
    deltas,
  )
  if (opts.wholeJob) {
    await runFixed(trx, 'jobSubmitted', ['SUBMITTED', now, now, now, jobId, 'SUBMITTING'], () =>
      trx
        .updateTable('engine_jobs')
        .set({ state: 'SUBMITTED', submitted_at: now, last_polled_at: now, last_progress_at: now })
        .where('job_id', '=', jobId)
        .where('state', '=', 'SUBMITTING'),
    )
  }
  return changed.length
}

/** An engine job's state, its number of files and whether a cancel was asked for (by its primary key). */
export async function engineJobHead(trx: Trx, jobId: string) {
  const [head] = await runFixed(trx, 'engineJobHead', [jobId], () =>
    trx
      .selectFrom('engine_jobs')
      .select(['state', 'files', 'cancel_requested_at'])
      .where('job_id', '=', jobId),
  )
  return head
}

/**
 * SUBMITTING → SUBMITTED once the engine accepted the job; reports files killed meanwhile. Its files are read only
 * while the job is SUBMITTING (outcomes that came first may have marked it already), and those KILLING only once
 * a cancel was asked for it (every move to KILLING asks one).
 */
export async function markSubmitted(
  trx: Trx,
  jobId: string,
  now: number,
  actor: string,
  deltas?: CountDeltas,
) {
  const job = await engineJobHead(trx, jobId)
  let submitted = 0
  if (!job || job.state === 'SUBMITTING') {
    const rows = await trx
      .selectFrom('transfers')
      .select(CURRENT_COLUMNS)
      .where('engine_job_id', '=', jobId)
      .where('state', '=', 'SUBMITTING')
      .execute()
    submitted = await markSubmittedRows(trx, jobId, rows, { now, actor, wholeJob: true }, deltas)
  }
  const killing = job?.cancel_requested_at === null ? [] : await membersIn(trx, jobId, 'KILLING')
  return { submitted, killing }
}

/** markSubmitted for several jobs in one transaction (the submitter's submits end in bursts). */
export async function markSubmittedMany(trx: Trx, jobIds: readonly string[], now: number, actor: string) {
  const out = new Map<string, { submitted: number; killing: string[] }>()
  // one rollup update for all the jobs, in key order: agents marking jobs of several users at once then lock
  // the rollup's rows in the same order (no deadlock between them)
  const deltas: CountDeltas = new Map()
  for (const jobId of jobIds) out.set(jobId, await markSubmitted(trx, jobId, now, actor, deltas))
  await applyCountDeltas(trx, deltas)
  return out
}

/** SUBMITTING → NEW without charging an attempt: the engine could not take the job now. */
export async function deferSubmission(trx: Trx, jobId: string, reason: string, now: number, actor: string) {
  const ids = await membersIn(trx, jobId, 'SUBMITTING')
  const changed = await transition(trx, {
    event: 'submitDeferred',
    from: 'SUBMITTING',
    ids,
    engineJobId: jobId,
    set: { agent_id: null },
    reason,
    actor,
    now,
  })
  await closeJob(trx, jobId, 'LOST', now)
  return changed.length
}

/** SUBMITTING → FAILED with a class: refused for good, or no PFN could be built. */
export async function rejectSubmission(
  trx: Trx,
  jobId: string,
  failures: { id: string; class: FailureClass; reason: string }[],
  now: number,
  actor: string,
  policy: StorePolicy,
) {
  const deltas: CountDeltas = new Map()
  const finished: FinishedTally = new Map()
  let n = 0
  const ended: string[] = []
  for (const f of failures) {
    const changed = await transition(
      trx,
      {
        event: 'submitRejected',
        from: 'SUBMITTING',
        ids: [f.id],
        engineJobId: jobId,
        set: {
          failure_class: f.class,
          failure_reason: f.reason,
          finished_at: now,
          agent_id: null,
          ...cleanupOnEnd('FAILED', policy, now),
        },
        reason: f.reason,
        actor,
        now,
      },
      deltas,
    )
    n += changed.length
    ended.push(...changed.map((c) => c.id))
    tallyFinished(finished, changed, 'FAILED', f.class)
  }
  await applyCountDeltas(trx, deltas)
  await recordFinished(trx, finished, now)
  await enqueueTerminalNotifications(trx, ended, now)
  const left = await membersIn(trx, jobId, 'SUBMITTING')
  if (left.length === 0) await closeJob(trx, jobId, 'FINISHED', now)
  return n
}

/** Marks an engine job closed (all its files have left it). */
export async function closeJob(trx: Trx, jobId: string, state: 'FINISHED' | 'LOST', now: number) {
  await runFixed(trx, 'closeJob', [state, now, jobId, 'SUBMITTING', 'SUBMITTED'], () =>
    trx
      .updateTable('engine_jobs')
      .set({ state, finished_at: now })
      .where('job_id', '=', jobId)
      .where('state', 'in', ['SUBMITTING', 'SUBMITTED']),
  )
}

/** Closes an engine job when none of its files is still with the engine; returns whether it closed. */
export async function closeJobIfDone(trx: Trx, jobId: string, now: number): Promise<boolean> {
  const [open] = await runFixed(trx, 'openMember', [jobId, 'SUBMITTING', 'SUBMITTED', 'KILLING', 1], () =>
    trx
      .selectFrom('transfers')
      .select('id')
      .where('engine_job_id', '=', jobId)
      .where('state', 'in', ['SUBMITTING', 'SUBMITTED', 'KILLING'])
      .limit(1),
  )
  if (open) return false
  await closeJob(trx, jobId, 'FINISHED', now)
  return true
}

/** The store's door for the end of a submit call. */
export interface SubmissionOps {
  /**
   * SUBMITTING → SUBMITTED for these engine jobs, in one transaction (submits end in bursts); per job, the ids
   * killed meanwhile (KILLING), to cancel at the engine
   */
  markSubmitted(
    jobIds: readonly string[],
    now: number,
    actor: string,
  ): Promise<Map<string, { submitted: number; killing: string[] }>>
  /** SUBMITTING → NEW without charging an attempt (5xx, timeout) */
  deferSubmission(jobId: string, reason: string, now: number, actor: string): Promise<number>
  /** SUBMITTING → FAILED with a class (refused for good, no PFN) */
  rejectSubmission(
    jobId: string,
    failures: { id: string; class: FailureClass; reason: string }[],
    now: number,
    actor: string,
  ): Promise<number>
}

export function submissionOps(s: StoreContext): SubmissionOps {
  return {
    markSubmitted: (jobIds, now, actor) => s.tx((trx) => markSubmittedMany(trx, jobIds, now, actor)),
    deferSubmission: (jobId, reason, now, actor) =>
      s.tx((trx) => deferSubmission(trx, jobId, reason, now, actor)),
    rejectSubmission: (jobId, failures, now, actor) =>
      s.tx((trx) => rejectSubmission(trx, jobId, failures, now, actor, s.policy)),
  }
}
