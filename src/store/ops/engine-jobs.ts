import { IN_FLIGHT_STATES } from '../../domain/states.js'
import type { TransferRecord } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import type { Db, Trx } from '../dialect.js'
import { toEngineJobRow, toRecord } from '../rows.js'

export interface EngineJobRow {
  jobId: string
  engine: string
  agentId: string | null
  user: string
  group: string | null
  role: string | null
  source: string
  destination: string
  state: 'SUBMITTING' | 'SUBMITTED' | 'FINISHED' | 'LOST'
  files: number
  createdAt: number
  submittedAt: number | null
  lastPolledAt: number
  lastProgressAt: number
  cancelRequestedAt: number | null
  cancelSentAt: number | null
}

export async function openEngineJobs(
  db: Db,
  opts: {
    engine: string
    agentId?: string
    states: ('SUBMITTING' | 'SUBMITTED')[]
    polledBefore?: number
    limit: number
  },
): Promise<EngineJobRow[]> {
  let q = db
    .selectFrom('engine_jobs')
    .selectAll()
    .where('state', 'in', opts.states)
    .where('engine', '=', opts.engine)
  if (opts.agentId !== undefined) q = q.where('agent_id', '=', opts.agentId)
  if (opts.polledBefore !== undefined) q = q.where('last_polled_at', '<', opts.polledBefore)
  const rows = await q.orderBy('last_polled_at').limit(opts.limit).execute()
  return rows.map(toEngineJobRow)
}

export async function engineJobMembers(db: Db, jobId: string): Promise<TransferRecord[]> {
  const rows = await db
    .selectFrom('transfers')
    .selectAll()
    .where('engine_job_id', '=', jobId)
    .where('state', 'in', IN_FLIGHT_STATES as string[])
    .execute()
  return rows.map(toRecord)
}

export async function touchEngineJobs(
  trx: Trx,
  jobIds: readonly string[],
  now: number,
  progress: readonly string[],
): Promise<void> {
  await trx
    .updateTable('engine_jobs')
    .set({ last_polled_at: now })
    .where('job_id', 'in', [...jobIds])
    .execute()
  if (progress.length) {
    await trx
      .updateTable('engine_jobs')
      .set({ last_progress_at: now })
      .where('job_id', 'in', [...progress])
      .execute()
  }
}

/** The store's door for open engine jobs, as the poller and the receiver see them. */
export interface EngineJobOps {
  openEngineJobs(opts: {
    engine: string
    agentId?: string
    states: ('SUBMITTING' | 'SUBMITTED')[]
    polledBefore?: number
    limit: number
  }): Promise<EngineJobRow[]>
  engineJobMembers(jobId: string): Promise<TransferRecord[]>
  /** records that these jobs were polled now, and which of them showed progress */
  touchEngineJobs(jobIds: readonly string[], now: number, progress: readonly string[]): Promise<void>
}

export function engineJobOps(s: StoreContext): EngineJobOps {
  return {
    openEngineJobs: (opts) => openEngineJobs(s.db, opts),
    engineJobMembers: (jobId) => engineJobMembers(s.db, jobId),
    touchEngineJobs: (jobIds, now, progress) =>
      jobIds.length === 0 ? Promise.resolve() : s.tx((trx) => touchEngineJobs(trx, jobIds, now, progress)),
  }
}
