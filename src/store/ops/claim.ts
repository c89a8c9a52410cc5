import { batchSid } from '../../domain/ids.js'
import { IN_FLIGHT_STATES } from '../../domain/states.js'
import type { TransferRecord } from '../../domain/transfer.js'
import { linkKey } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type DialectOps, type Trx } from '../dialect.js'
import { toRecord } from '../rows.js'
import { applyCountDeltas, type CountDeltas, transition } from '../transition.js'

export interface ClaimSpec {
  source: string
  destination: string
  user: string
  group: string | null
  role: string | null
  /** files wanted */
  limit: number
  /** the link's limit: the claim never lets in-flight files exceed it */
  maxActive: number
  maxFilesPerJob: number
  engine: string
  agentId: string
  now: number
  /** engine job id for a batch's submission id (precomputed context, so it is synchronous) */
  jobIdFor(sid: string): string
}

export interface ClaimedJob {
  jobId: string
  transfers: TransferRecord[]
}

/** Files in flight on a link, from the rollup (bounded: one row per user and state). */
export async function inFlightOnLink(trx: Trx, source: string, destination: string): Promise<number> {
  const row = await trx
    .selectFrom('transfer_counts')
    .select((eb) => eb.fn.sum<number>('n').as('n'))
    .where('source', '=', source)
    .where('destination', '=', destination)
    .where('state', 'in', IN_FLIGHT_STATES as string[])
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

/**
 * NEW → SUBMITTING for up to `limit` files of one queue, never past the link's limit, in engine jobs of at
 * most `maxFilesPerJob`. Each job's deterministic id is stored with its files before any engine call
 * (invariant 2: mark before call).
 */
export async function claimForSubmission(
  trx: Trx,
  dialect: DialectOps,
  spec: ClaimSpec,
): Promise<ClaimedJob[]> {
  await dialect.lockKey(trx, `link:${linkKey(spec.source, spec.destination)}`)
  const inFlight = await inFlightOnLink(trx, spec.source, spec.destination)
  const take = Math.min(spec.limit, spec.maxActive - inFlight)
  if (take <= 0) return []

  let q = trx
    .selectFrom('transfers')
    .select(['id', 'attempt', 'submissions'])
    .where('state', '=', 'NEW')
    .where('source', '=', spec.source)
    .where('destination', '=', spec.destination)
    .where('user', '=', spec.user)
    .where('grp', '=', spec.group ?? '')
    .where('role', '=', spec.role ?? '')
    .orderBy('priority', 'desc')
    .orderBy('created_at')
    .orderBy('id')
    .limit(take)
  if (dialect.name === 'postgres') q = q.forUpdate().skipLocked()
  const candidates = await q.execute()
  if (candidates.length === 0) return []

  const deltas: CountDeltas = new Map()
  const jobs: ClaimedJob[] = []
  for (const batch of chunk(candidates, spec.maxFilesPerJob)) {
    const sid = batchSid(
      batch.map((c) => ({ id: c.id, attempt: Number(c.attempt), submissions: Number(c.submissions) + 1 })),
    )
    const jobId = spec.jobIdFor(sid)
    const changed = await transition(
      trx,
      {
        event: 'claim',
        from: 'NEW',
        ids: batch.map((c) => c.id),
        set: (eb) => ({
          submissions: eb('submissions', '+', 1),
          engine: spec.engine,
          engine_job_id: jobId,
          engine_file_id: null,
          agent_id: spec.agentId,
          hold_reason: null,
          method: null,
        }),
        reason: `claimed for engine job ${jobId}`,
        actor: spec.agentId,
        now: spec.now,
      },
      deltas,
      'full',
    )
    if (changed.length === 0) continue
    await trx
      .insertInto('engine_jobs')
      .values({
        job_id: jobId,
        engine: spec.engine,
        agent_id: spec.agentId,
        user: spec.user,
        grp: spec.group ?? '',
        role: spec.role ?? '',
        source: spec.source,
        destination: spec.destination,
        state: 'SUBMITTING',
        files: changed.length,
        created_at: spec.now,
        submitted_at: null,
        finished_at: null,
        last_polled_at: spec.now,
        last_progress_at: spec.now,
        cancel_requested_at: null,
        cancel_sent_at: null,
      })
      .execute()
    jobs.push({ jobId, transfers: changed.map(toRecord) })
  }
  await applyCountDeltas(trx, deltas)
  return jobs
}

/** The store's door for the submitter's claim. */
export interface ClaimOps {
  claimForSubmission(spec: ClaimSpec): Promise<ClaimedJob[]>
}

export function claimOps(s: StoreContext): ClaimOps {
  return {
    claimForSubmission: (spec) => s.tx((trx) => claimForSubmission(trx, s.dialect, spec)),
  }
}
