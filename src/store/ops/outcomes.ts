import { classify } from '../../domain/failures.js'
import type { FileOutcome } from '../../domain/outcome.js'
import type { BackoffPolicy } from '../../domain/retry-policy.js'
import { decideAfterFailure } from '../../domain/retry-policy.js'
import { TRANSITIONS, type TransferState } from '../../domain/states.js'
import type { StoreContext, StorePolicy } from '../context.js'
import { chunk, type Trx } from '../dialect.js'
import { runFixed } from '../row-batch.js'
import {
  applyCountDeltas,
  type CountDeltas,
  CURRENT_COLUMNS,
  type CurrentRow,
  type TransferUpdate,
  transition,
} from '../transition.js'
import { cleanupOnEnd } from './cleanup-schedule.js'
import { type FinishedTally, recordFinished, tallyFinished } from './finished-buckets.js'
import { closeJobIfDone, engineJobHead, markSubmittedRows } from './submission.js'
import { enqueueTerminalNotifications } from './webhook-outbox.js'

export interface OutcomePolicy {
  now: number
  backoff: BackoffPolicy
  quotaRecheck: number
  maxHold: number
  actor: string
  /** when set, only files this agent holds take the outcomes (engines whose jobs die with their agent) */
  holder?: string
}

export interface OutcomeSummary {
  applied: number
  /** outcomes for records that had already moved on (late, duplicate or stale) */
  ignored: number
  byState: Partial<Record<TransferState, number>>
  /** terminal transitions, for notifications */
  terminal: { id: string; state: TransferState }[]
}

/** A record as the outcomes' transaction read it: what the plans decide by, and what the transitions need. */
interface Current extends CurrentRow {
  state: string
  supersede_pending: number
  max_attempts: number
  agent_id: string | null
}

interface Planned {
  from: 'SUBMITTED' | 'KILLING'
  event: 'done' | 'retryLater' | 'fail' | 'requeue' | 'killed' | 'supersede'
  set: TransferUpdate
  reason: string
  /** outcomes that share a plan (the common "done" case) are applied in one statement */
  batchKey?: string
}

/** Values that reset a record for a newer job retry once its old attempt is gone. */
const SUPERSEDE_RESET: TransferUpdate = {
  attempt: 1,
  supersede_pending: 0,
  hold_reason: null,
  next_attempt_at: null,
  failure_class: null,
  failure_reason: null,
  finished_at: null,
  agent_id: null,
}

async function holdFor(
  trx: Trx,
  row: Current,
  scope: 'user' | 'user-site',
  cls: string,
  reason: string,
  policy: OutcomePolicy,
): Promise<'held' | 'expired'> {
  const site = scope === 'user' ? '*' : row.destination
  const existing = await trx
    .selectFrom('holds')
    .select(['id', 'since'])
    .where('user', '=', row.user)
    .where('site', '=', site)
    .where('class', '=', cls)
    .where('released_at', 'is', null)
    .orderBy('since')
    .executeTakeFirst()
  if (existing && policy.now - Number(existing.since) > policy.maxHold) return 'expired'
  if (existing) {
    await trx
      .updateTable('holds')
      .set({ until: policy.now + policy.quotaRecheck, reason })
      .where('id', '=', existing.id)
      .execute()
  } else {
    await trx
      .insertInto('holds')
      .values({
        user: row.user,
        site,
        class: cls,
        reason,
        since: policy.now,
        until: policy.now + policy.quotaRecheck,
        released_at: null,
      })
      .execute()
  }
  return 'held'
}

async function plan(
  trx: Trx,
  o: FileOutcome,
  row: Current,
  policy: OutcomePolicy,
  store: StorePolicy,
): Promise<Planned> {
  const now = policy.now
  const from = row.state as 'SUBMITTED' | 'KILLING'
  const supersede = Number(row.supersede_pending) === 1
  const end = (state: 'DONE' | 'FAILED' | 'KILLED', extra: TransferUpdate): TransferUpdate => ({
    finished_at: now,
    agent_id: null,
    ...cleanupOnEnd(state, store, now),
    ...extra,
  })
  if (o.result === 'done') {
    const method = o.method ?? null
    return {
      from,
      event: 'done',
      reason: o.reason || 'verified at destination (size and adler32)',
      set: end('DONE', {
        method,
        engine_file_id: o.engineFileId ?? null,
        failure_class: null,
        failure_reason: null,
        hold_reason: null,
      }),
      batchKey: `done\0${from}\0${method}\0${o.reason}\0${o.engineFileId === undefined ? '' : o.jobId}`,
    }
  }
  if (from === 'KILLING' && supersede && o.result !== 'failed') {
    return {
      from,
      event: 'supersede',
      set: SUPERSEDE_RESET,
      reason: `old attempt stopped (${o.reason}); newer job retry queued`,
    }
  }
  if (o.result === 'interrupted') {
    if (from === 'KILLING') {
      return {
        from,
        event: 'killed',
        reason: o.reason,
        set: end('KILLED', { failure_class: 'killed', failure_reason: o.reason }),
      }
    }
    return {
      from,
      event: 'requeue',
      reason: `${o.reason}; back in the queue, no attempt charged`,
      set: { agent_id: null },
    }
  }
  if (o.result === 'killed') {
    return {
      from,
      event: 'killed',
      reason: o.reason,
      set: end('KILLED', { failure_class: 'killed', failure_reason: o.reason }),
    }
  }
  // failed
  const c = classify(o.reason, o.recoverable)
  const failed = (cls: string): Planned => ({
    from,
    event: 'fail',
    reason: o.reason,
    set: end('FAILED', { failure_class: cls, failure_reason: o.reason, method: o.method ?? null }),
  })
  if (from === 'KILLING')
    return supersede ? { from, event: 'supersede', set: SUPERSEDE_RESET, reason: o.reason } : failed(c.class)
  const d = decideAfterFailure(c, Number(row.attempt), Number(row.max_attempts), now, policy.backoff)
  switch (d.kind) {
    case 'retry':
      return {
        from,
        event: 'retryLater',
        reason: o.reason,
        set: {
          next_attempt_at: d.nextAttemptAt,
          failure_class: c.class,
          failure_reason: o.reason,
          method: o.method ?? null,
          agent_id: null,
        },
      }
    case 'requeue':
      return {
        from,
        event: 'requeue',
        reason: `${o.reason}; back in the queue, no attempt charged`,
        set: { failure_class: c.class, failure_reason: o.reason, agent_id: null },
      }
    case 'hold': {
      const held = await holdFor(trx, row, d.scope, c.class, o.reason, policy)
      if (held === 'expired') return failed(c.class)
      return {
        from,
        event: 'requeue',
        reason: `held (${c.class}): ${o.reason}`,
        set: {
          hold_reason: `${c.class}: ${o.reason}`,
          failure_class: c.class,
          failure_reason: o.reason,
          agent_id: null,
        },
      }
    }
    case 'killed':
      return {
        from,
        event: 'killed',
        reason: o.reason,
        set: end('KILLED', { failure_class: 'killed', failure_reason: o.reason }),
      }
    case 'fail':
      return failed(c.class)
  }
}

/** Applies engine outcomes: DONE, RETRY with backoff, FAILED with a class, holds, requeues, kills. */
export async function recordOutcomes(
  trx: Trx,
  outcomes: readonly FileOutcome[],
  policy: OutcomePolicy,
  store: StorePolicy,
): Promise<OutcomeSummary> {
  const summary: OutcomeSummary = { applied: 0, ignored: 0, byState: {}, terminal: [] }
  const current = new Map<string, Current>()
  for (const ids of chunk([...new Set(outcomes.map((o) => o.transferId))], 500)) {
    const rows = await trx
      .selectFrom('transfers')
      .select([...CURRENT_COLUMNS, 'state', 'max_attempts', 'supersede_pending', 'agent_id'])
      .where('id', 'in', ids)
      .execute()
    for (const r of rows) current.set(r.id, r)
  }

  // an outcome for a file still SUBMITTING proves the engine took its job: record that first
  const early = new Map<string, Current[]>()
  for (const o of outcomes) {
    const row = current.get(o.transferId)
    const held = policy.holder === undefined || row?.agent_id === policy.holder
    if (
      held &&
      row?.state === 'SUBMITTING' &&
      row.engine_job_id === o.jobId &&
      Number(row.attempt) === o.attempt &&
      !early.get(o.jobId)?.includes(row)
    ) {
      early.set(o.jobId, [...(early.get(o.jobId) ?? []), row])
    }
  }
  // one rollup update for the whole batch, the early marks' changes included
  const deltas: CountDeltas = new Map()
  for (const [jobId, rows] of early) {
    // the job is SUBMITTED once all its files are; those without an outcome here are left to the marker
    const wholeJob = rows.length === Number((await engineJobHead(trx, jobId))?.files)
    await markSubmittedRows(trx, jobId, rows, { now: policy.now, actor: policy.actor, wholeJob }, deltas)
    for (const row of rows) row.state = 'SUBMITTED'
  }

  const batches = new Map<string, { plan: Planned; ids: string[]; jobId: string }>()
  const singles: { plan: Planned; id: string; jobId: string }[] = []
  const seen = new Set<string>()
  for (const o of outcomes) {
    const row = current.get(o.transferId)
    const key = `${o.transferId}\0${o.jobId}\0${o.attempt}`
    if (
      !row ||
      seen.has(key) ||
      (policy.holder !== undefined && row.agent_id !== policy.holder) ||
      row.engine_job_id !== o.jobId ||
      Number(row.attempt) !== o.attempt ||
      (row.state !== 'SUBMITTED' && row.state !== 'KILLING')
    ) {
      summary.ignored++
      continue
    }
    seen.add(key)
    const p = await plan(trx, o, row, policy, store)
    if (p.batchKey !== undefined) {
      const k = `${p.batchKey}\0${o.jobId}`
      const b = batches.get(k) ?? { plan: p, ids: [], jobId: o.jobId }
      b.ids.push(o.transferId)
      batches.set(k, b)
    } else singles.push({ plan: p, id: o.transferId, jobId: o.jobId })
  }

  const finished: FinishedTally = new Map()
  const jobs = new Set<string>()
  const apply = async (p: Planned, ids: string[], jobId: string) => {
    const changed = await transition(
      trx,
      {
        event: p.event,
        from: p.from,
        ids,
        current,
        engineJobId: jobId,
        set: p.set,
        reason: p.reason,
        actor: policy.actor,
        now: policy.now,
      },
      deltas,
    )
    // the transition table says where an event leads; nothing here restates it
    const to: TransferState = TRANSITIONS[p.event].to
    summary.applied += changed.length
    summary.byState[to] = (summary.byState[to] ?? 0) + changed.length
    if (to === 'DONE' || to === 'FAILED' || to === 'KILLED') {
      for (const c of changed) summary.terminal.push({ id: c.id, state: to })
      tallyFinished(
        finished,
        changed,
        to,
        typeof p.set.failure_class === 'string' ? p.set.failure_class : null,
      )
    }
    jobs.add(jobId)
  }
  for (const b of batches.values()) await apply(b.plan, b.ids, b.jobId)
  for (const s of singles) await apply(s.plan, [s.id], s.jobId)
  await applyCountDeltas(trx, deltas)
  await recordFinished(trx, finished, policy.now)
  await enqueueTerminalNotifications(
    trx,
    summary.terminal.map((t) => t.id),
    policy.now,
  )

  for (const jobId of jobs) {
    if (!(await closeJobIfDone(trx, jobId, policy.now))) {
      await runFixed(trx, 'jobProgressed', [policy.now, jobId], () =>
        trx.updateTable('engine_jobs').set({ last_progress_at: policy.now }).where('job_id', '=', jobId),
      )
    }
  }
  return summary
}

/** The store's door for what engines report. */
export interface OutcomeOps {
  recordOutcomes(outcomes: readonly FileOutcome[], policy: OutcomePolicy): Promise<OutcomeSummary>
}

export function outcomeOps(s: StoreContext): OutcomeOps {
  return {
    recordOutcomes: (outcomes, policy) => s.tx((trx) => recordOutcomes(trx, outcomes, policy, s.policy)),
  }
}
