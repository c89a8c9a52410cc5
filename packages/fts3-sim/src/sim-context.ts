/** What the route modules share: the tables, the scheduler, the callers of requests, the faults. */
import type { FastifyRequest } from 'fastify'
import type { BanList } from './ban-list.js'
import { ANONYMOUS, type Caller, mayAccess } from './caller.js'
import type { DelegationStore } from './delegation-store.js'
import type { FaultPlan } from './faults.js'
import { FtsHttpError, statusText } from './http-errors.js'
import type { SimJob } from './job-model.js'
import type { JobStore } from './job-store.js'
import type { RouteTable } from './route-table.js'
import type { TransferScheduler } from './scheduler.js'

export interface SimContext {
  store: JobStore
  delegations: DelegationStore
  bans: BanList
  scheduler: TransferScheduler
  faults: FaultPlan
  routes: RouteTable
  submitHost: string
  callers: WeakMap<FastifyRequest, Caller>
}

export function callerOf(ctx: SimContext, request: FastifyRequest): Caller {
  return ctx.callers.get(request) ?? ANONYMOUS
}

/** `_get_job`: the live job, or 404 / 403 worded as the server words them. */
export function accessibleJob(ctx: SimContext, caller: Caller, jobId: string): SimJob {
  const job = ctx.store.get(jobId)
  if (!job) throw new FtsHttpError(404, `No job with the id "${jobId}" has been found`)
  if (!mayAccess(caller, job.userDn, job.voName)) {
    throw new FtsHttpError(403, `Not enough permissions to check the job "${jobId}"`)
  }
  return job
}

/** Shape 2: one failed entry of a multi-status answer. */
export function statusEntry(jobId: string, err: unknown): Record<string, unknown> {
  if (!(err instanceof FtsHttpError)) throw err
  return { job_id: jobId, http_status: statusText(err.code), http_message: err.message }
}

/** `/jobs/a,b,` → ["a", "b", ""]: the raw split decides single or list mode, empty ids are skipped. */
export function splitIds(list: string): { ids: string[]; listMode: boolean } {
  const raw = list.split(',')
  return { ids: raw.filter((id) => id !== ''), listMode: raw.length > 1 }
}

export function queryOf(request: FastifyRequest): URLSearchParams {
  return new URL(request.url, 'http://fts3-sim').searchParams
}
