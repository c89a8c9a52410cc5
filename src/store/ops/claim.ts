import { sql } from 'kysely'
import { batchSid } from '../../domain/ids.js'
import { IN_FLIGHT_STATES } from '../../domain/states.js'
import type { SubmittableTransfer } from '../../domain/transfer.js'
import { linkKey } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type DialectOps, type Trx } from '../dialect.js'
import { insertPrepared, runsInProcess } from '../row-batch.js'
import {
  applyCountDeltas,
  type CountDeltas,
  CURRENT_COLUMNS,
  type CurrentRow,
  transition,
} from '../transition.js'

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
  /**
   * quota admission: the most bytes this claim takes, with the same transaction's earlier claims of this user
   * and destination (files in queue order while they fit; the first that does not fit stops it); absent: no limit
   */
  maxBytes?: number
}

/** The columns a claim reads: the transition's, and what an engine job is built from. */
const CLAIM_COLUMNS = [
  ...CURRENT_COLUMNS,
  'state',
  'source_lfn',
  'destination_lfn',
  'adler32',
  'activity',
  'priority',
  'submissions',
  'job_retry',
] as const

type ClaimRow = CurrentRow & {
  source_lfn: string
  destination_lfn: string
  adler32: string
  activity: string
  priority: number
  submissions: number
  job_retry: number
}

/** A claimed row (after the claim's update) as the engine job's file; the statement raised its submissions. */
function toSubmittable(r: ClaimRow): SubmittableTransfer {
  return {
    id: r.id,
    state: 'SUBMITTING',
    user: r.user,
    group: r.grp === '' ? null : r.grp,
    role: r.role === '' ? null : r.role,
    task: r.task,
    source: r.source,
    sourceLfn: r.source_lfn,
    destination: r.destination,
    destinationLfn: r.destination_lfn,
    size: Number(r.size),
    checksums: { adler32: r.adler32 },
    activity: r.activity,
    priority: Number(r.priority),
    attempt: Number(r.attempt),
    submissions: Number(r.submissions) + 1,
    jobRetry: Number(r.job_retry),
    engineJobId: r.engine_job_id,
  }
}

export interface ClaimedJob {
  jobId: string
  transfers: SubmittableTransfer[]
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
 * (invariant 2: mark before call). The caller holds the link's lock and applies `deltas`.
 */
async function claimQueue(
  trx: Trx,
  dialect: DialectOps,
  spec: ClaimSpec,
  inFlight: number,
  deltas: CountDeltas,
): Promise<ClaimedJob[]> {
  const take = Math.min(spec.limit, spec.maxActive - inFlight)
  if (take <= 0) return []

  // what the engine job and the transition need (the transition then needs no RETURNING), not whole rows
  let q = trx
    .selectFrom('transfers')
    .select(CLAIM_COLUMNS)
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
  const fitting = spec.maxBytes === undefined ? candidates : withinBytes(candidates, spec.maxBytes)
  if (fitting.length === 0) return []

  const jobs: ClaimedJob[] = []
  for (const batch of chunk(fitting, spec.maxFilesPerJob)) {
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
        current: new Map(batch.map((c) => [c.id, c])),
        set: {
          submissions: sql<number>`submissions + 1`,
          engine: spec.engine,
          engine_job_id: jobId,
          engine_file_id: null,
          agent_id: spec.agentId,
          hold_reason: null,
          method: null,
        },
        reason: `claimed for engine job ${jobId}`,
        actor: spec.agentId,
        now: spec.now,
      },
      deltas,
    )
    if (changed.length === 0) continue
    const job = {
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
    } as const
    // in process the insert is prepared once (small jobs made building it a cost of its own)
    if (runsInProcess(trx)) await insertPrepared(trx, 'engine_jobs', [job])
    else await trx.insertInto('engine_jobs').values(job).execute()
    jobs.push({ jobId, transfers: changed.map(toSubmittable) })
  }
  return jobs
}

/**
 * The claims of one submitter cycle, in one transaction: a commit per queue would cost more than the claims.
 * Links are locked in key order, so agents claiming on several links never wait on each other in a cycle.
 */
export async function claimForSubmissionMany(
  trx: Trx,
  dialect: DialectOps,
  specs: readonly ClaimSpec[],
): Promise<ClaimedJob[][]> {
  const deltas: CountDeltas = new Map()
  // files in flight per link: read once under the lock, then counted up here (the rollup changes at the end)
  const inFlight = new Map<string, number>()
  const links = new Map(specs.map((s) => [linkKey(s.source, s.destination), s]))
  for (const [link, { source, destination }] of [...links].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    await dialect.lockKey(trx, `link:${link}`)
    inFlight.set(link, await inFlightOnLink(trx, source, destination))
  }
  const out: ClaimedJob[][] = []
  const bytesTaken = new Map<string, number>()
  for (const spec of specs) {
    const link = linkKey(spec.source, spec.destination)
    const budget = `${spec.user}\0${spec.destination}`
    const jobs = await claimQueue(
      trx,
      dialect,
      withinBudget(spec, bytesTaken.get(budget)),
      inFlight.get(link)!,
      deltas,
    )
    inFlight.set(link, inFlight.get(link)! + jobs.reduce((n, j) => n + j.transfers.length, 0))
    if (spec.maxBytes !== undefined) bytesTaken.set(budget, (bytesTaken.get(budget) ?? 0) + bytesOf(jobs))
    out.push(jobs)
  }
  await applyCountDeltas(trx, deltas)
  return out
}

// quota admission (issue 18): a byte budget per user and destination

/** The first rows in queue order whose sizes add up to at most `maxBytes` (a file too big stops the take). */
function withinBytes<T extends { size: number }>(rows: readonly T[], maxBytes: number): T[] {
  let total = 0
  const out: T[] = []
  for (const r of rows) {
    total += Number(r.size)
    if (total > maxBytes) break
    out.push(r)
  }
  return out
}

/** A spec's byte budget less what the transaction's earlier claims of the same user and destination took. */
function withinBudget(spec: ClaimSpec, taken = 0): ClaimSpec {
  return spec.maxBytes === undefined || taken === 0 ? spec : { ...spec, maxBytes: spec.maxBytes - taken }
}

function bytesOf(jobs: readonly ClaimedJob[]): number {
  return jobs.reduce((n, j) => n + j.transfers.reduce((m, t) => m + t.size, 0), 0)
}

/** The store's door for the submitter's claim. */
export interface ClaimOps {
  claimForSubmission(spec: ClaimSpec): Promise<ClaimedJob[]>
  /** several queues' claims in one transaction (a submitter cycle); the jobs of each spec, in order */
  claimForSubmissions(specs: readonly ClaimSpec[]): Promise<ClaimedJob[][]>
}

export function claimOps(s: StoreContext): ClaimOps {
  return {
    claimForSubmission: async (spec) =>
      (await s.tx((trx) => claimForSubmissionMany(trx, s.dialect, [spec])))[0]!,
    claimForSubmissions: (specs) => s.tx((trx) => claimForSubmissionMany(trx, s.dialect, specs)),
  }
}
