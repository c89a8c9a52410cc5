/**
 * Reading jobs: `GET /jobs`, `/jobs/{ids}`, `/jobs/{id}/files`, `.../retries`, `/jobs/{id}/dm`, `/jobs/{id}/{field}`
 * (docs/fts3-rest.md §1, §7).
 */
import type { Caller } from '../caller.js'
import { badRequest, FtsHttpError, forbidden, notFound } from '../http-errors.js'
import type { SimJob } from '../job-model.js'
import { fileJson, fileSubset, jobField, jobJson, retryJson } from '../job-view.js'
import { sendJson } from '../replies.js'
import type { Handler } from '../route-table.js'
import { accessibleJob, callerOf, queryOf, type SimContext, splitIds, statusEntry } from '../sim-context.js'

type IdParams = { id: string }

/** `GET /jobs?...`: unfinished jobs (or finished ones by state and window), limited to the caller's VO. */
function listJobs(ctx: SimContext, caller: Caller, q: URLSearchParams): Record<string, unknown>[] {
  if (caller.transferLevel === null) throw forbidden('Not enough permissions')
  const limitRaw = q.get('limit')
  const limit = limitRaw !== null && /^\s*[+-]?\d+\s*$/.test(limitRaw) ? Number.parseInt(limitRaw, 10) : null
  let windowMs: number | null = null
  const tw = q.get('time_window')?.split(':')
  if (tw && /^[+-]?\d+$/.test(tw[0]!) && (tw[1] === undefined || /^[+-]?\d+$/.test(tw[1]))) {
    windowMs = (Number(tw[0]) * 60 + Number(tw[1] ?? 0)) * 60_000
  }
  const dlg = q.get('dlg_id')
  const dn = q.get('user_dn')
  if (dlg && dlg !== caller.delegationId) {
    throw forbidden('The provided delegation id does not match your delegation id')
  }
  if (dn && dn !== caller.userDn) {
    throw badRequest('The provided DN and delegation id do not correspond to the same user')
  }
  if (limit !== null && (limit < 0 || limit > 500)) {
    throw badRequest('The limit must be positive and less or equal than 500')
  }
  const vo = caller.transferLevel === 'vo' ? caller.vos[0] : q.get('vo_name')
  const states = q.get('state_in')?.split(',')
  const now = Date.now()
  let jobs = ctx.store.liveJobs().filter((j) => {
    if (states) {
      if (!states.includes(j.jobState)) return false
      if (limit === null) {
        if (windowMs !== null) return j.jobFinished !== null && j.jobFinished.getTime() >= now - windowMs
        return j.jobFinished === null
      }
      return true
    }
    return j.jobFinished === null
  })
  jobs = jobs.filter(
    (j) =>
      (!dn || j.userDn === dn) &&
      (!vo || j.voName === vo) &&
      (!dlg || j.credId === dlg) &&
      (!q.get('source_se') || j.sourceSe === q.get('source_se')) &&
      (!q.get('dest_se') || j.destSe === q.get('dest_se')),
  )
  if (limit) jobs = jobs.sort((a, b) => b.submitTime.getTime() - a.submitTime.getTime()).slice(0, limit)
  const fields = q.get('fields')?.split(',')
  return jobs.map((j) => {
    const row = jobJson(j)
    if (!fields) return row
    return Object.fromEntries(fields.filter((f) => Object.hasOwn(row, f)).map((f) => [f, row[f]]))
  })
}

function statusOf(job: SimJob, fileFields: string[] | null): Record<string, unknown> {
  const row: Record<string, unknown> = jobJson(job)
  if (fileFields) row.files = job.files.map((f) => fileSubset(f, fileFields))
  row.http_status = '200 Ok'
  return row
}

export function registerJobStatusRoutes(ctx: SimContext): void {
  const { routes } = ctx
  const list: Handler = async (request, reply) =>
    sendJson(reply, 200, listJobs(ctx, callerOf(ctx, request), queryOf(request)))
  routes.add('GET', '/jobs', list)
  routes.add('GET', '/jobs/', list)

  routes.add('GET', '/jobs/:id', async (request, reply) => {
    const caller = callerOf(ctx, request)
    const { ids, listMode } = splitIds((request.params as IdParams).id)
    const files = queryOf(request).get('files')
    const fileFields = files === null ? null : files.split(',')
    let errors = 0
    const entries = ids.map((id) => {
      try {
        return statusOf(accessibleJob(ctx, caller, id), fileFields)
      } catch (err) {
        errors++
        return statusEntry(id, err)
      }
    })
    if (!listMode) {
      const single = entries[0] ?? statusEntry('', notFound('No job with the id "" has been found'))
      const code = errors > 0 ? Number.parseInt(String(single.http_status), 10) : 200
      return sendJson(reply, code, single)
    }
    return sendJson(reply, errors > 0 ? 207 : 200, entries)
  })

  routes.add('GET', '/jobs/:id/files', async (request, reply) => {
    const job = accessibleJob(ctx, callerOf(ctx, request), (request.params as IdParams).id)
    return sendJson(reply, 200, job.files.map(fileJson))
  })

  // the job's data-management operations (deletions, staging-only files): the double runs none, so a job it
  // knows has none; the official client's get_job_status(list_files=True) asks for them
  routes.add('GET', '/jobs/:id/dm', async (request, reply) => {
    accessibleJob(ctx, callerOf(ctx, request), (request.params as IdParams).id)
    return sendJson(reply, 200, [])
  })

  routes.add('GET', '/jobs/:id/files/:fileIds/retries', async (request, reply) => {
    const { id, fileIds } = request.params as IdParams & { fileIds: string }
    accessibleJob(ctx, callerOf(ctx, request), id)
    const found = /^\d+$/.test(fileIds) ? ctx.store.file(Number(fileIds)) : undefined
    if (!found) throw new FtsHttpError(404, `No file with the id "${fileIds}" has been found`)
    return sendJson(reply, 200, found.file.retries.map(retryJson))
  })

  routes.add('GET', '/jobs/:id/:field', async (request, reply) => {
    const { id, field } = request.params as IdParams & { field: string }
    const value = jobField(accessibleJob(ctx, callerOf(ctx, request), id), field)
    if (value === undefined) throw notFound('No such field')
    return sendJson(reply, 200, value)
  })
}
