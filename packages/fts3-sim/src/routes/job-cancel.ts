/** Changing jobs: `DELETE /jobs/{ids}`, `DELETE /jobs/{id}/files/{ids}`, `POST /jobs/{ids}` (priority). */
import { cancelFiles, cancelJob } from '../cancellation.js'
import { badRequest, forbidden } from '../http-errors.js'
import { isJobActive, type SimJob } from '../job-model.js'
import { jobJson } from '../job-view.js'
import { sendJson } from '../replies.js'
import { inputAsDict, isDict } from '../request-body.js'
import { accessibleJob, callerOf, queryOf, type SimContext, splitIds, statusEntry } from '../sim-context.js'

type Entry = Record<string, unknown>

const terminalEntry = (job: SimJob): Entry => ({
  ...jobJson(job),
  http_status: '304 Not Modified',
  http_message: 'The job is in a terminal state',
})
const changedEntry = (job: SimJob): Entry => ({ ...jobJson(job), http_status: '200 Ok', http_message: null })

/**
 * `_multistatus`: one id answers its entry alone (an error entry with its own status); several ids answer a
 * list, 207 when some entry is an error (terminal jobs are not errors).
 */
function multistatus(entries: Entry[], errors: Set<Entry>, listMode: boolean): [number, unknown] {
  if (!listMode) {
    const single = entries[0]!
    return [errors.has(single) ? Number.parseInt(String(single.http_status), 10) : 200, single]
  }
  return [errors.size > 0 ? 207 : 200, entries]
}

export function registerJobCancelRoutes(ctx: SimContext): void {
  const { routes, store, scheduler } = ctx

  routes.add('DELETE', '/jobs/:id', async (request, reply) => {
    const caller = callerOf(ctx, request)
    const { ids, listMode } = splitIds((request.params as { id: string }).id)
    // errors and terminal jobs come first, then the jobs this call cancels (as the server lists them)
    const entries: Entry[] = []
    const errors = new Set<Entry>()
    const cancellable: SimJob[] = []
    for (const id of ids) {
      try {
        const job = accessibleJob(ctx, caller, id)
        if (isJobActive(job.jobState)) cancellable.push(job)
        else entries.push(terminalEntry(job))
      } catch (err) {
        const e = statusEntry(id, err)
        errors.add(e)
        entries.push(e)
      }
    }
    for (const job of cancellable) {
      cancelJob(job, store, scheduler)
      entries.push(changedEntry(job))
    }
    if (entries.length === 0) return sendJson(reply, 200, [])
    const [code, body] = multistatus(entries, errors, listMode)
    return sendJson(reply, code, body)
  })

  routes.add('DELETE', '/jobs/:id/files/:fileIds', async (request, reply) => {
    const { id, fileIds } = request.params as { id: string; fileIds: string }
    const job = accessibleJob(ctx, callerOf(ctx, request), id)
    if (job.jobType !== 'N')
      throw badRequest(`Multihop or reuse jobs must be cancelled at once (${job.jobType})`)
    const answers = cancelFiles(job, fileIds.split(','), store, scheduler)
    return sendJson(reply, 200, answers.length > 1 ? answers : answers[0])
  })

  routes.add('POST', '/jobs/:id', async (request, reply) => {
    const caller = callerOf(ctx, request)
    const { ids, listMode } = splitIds((request.params as { id: string }).id)
    const entries: Entry[] = []
    const errors = new Set<Entry>()
    const modifiable: SimJob[] = []
    for (const id of ids) {
      try {
        const job = accessibleJob(ctx, caller, id)
        if (isJobActive(job.jobState)) modifiable.push(job)
        else entries.push(terminalEntry(job))
      } catch (err) {
        const e = statusEntry(id, err)
        errors.add(e)
        entries.push(e)
      }
    }
    const body = inputAsDict(
      request.method,
      request.headers['content-type'],
      String(request.body ?? ''),
      queryOf(request),
    )
    let priority: number | null = null
    const raw = isDict(body.params) ? body.params.priority : undefined
    if (raw !== undefined) {
      const n =
        typeof raw === 'number'
          ? Math.trunc(raw)
          : typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw)
            ? Number.parseInt(raw, 10)
            : Number.NaN
      if (Number.isNaN(n)) throw badRequest('Invalid priority value')
      priority = n
    }
    for (const job of modifiable) {
      // the server sets what it is given here, unclamped
      if (priority) {
        job.priority = priority
        for (const f of job.files) f.priority = priority
      }
      entries.push(changedEntry(job))
    }
    if (entries.length === 0) return sendJson(reply, 200, [])
    const [code, out] = multistatus(entries, errors, listMode)
    return sendJson(reply, code, out)
  })

  const rootOnly = async (): Promise<never> => {
    throw forbidden('User does not have root privileges')
  }
  routes.add('DELETE', '/jobs/all', async (request, reply) => {
    if (!callerOf(ctx, request).isRoot) return rootOnly()
    return sendJson(
      reply,
      200,
      cancelEverything(ctx, () => true),
    )
  })
  routes.add('DELETE', '/jobs/vo/:vo', async (request, reply) => {
    if (!callerOf(ctx, request).isRoot) return rootOnly()
    const vo = (request.params as { vo: string }).vo
    return sendJson(
      reply,
      200,
      cancelEverything(ctx, (j) => j.voName === vo),
    )
  })
}

function cancelEverything(ctx: SimContext, pick: (j: SimJob) => boolean): Record<string, number> {
  let files = 0
  let jobs = 0
  for (const job of ctx.store.liveJobs()) {
    if (!pick(job) || !isJobActive(job.jobState)) continue
    files += job.files.filter((f) =>
      ['STAGING', 'STARTED', 'SUBMITTED', 'READY', 'ACTIVE'].includes(f.fileState),
    ).length
    cancelJob(job, ctx.store, ctx.scheduler)
    jobs++
  }
  return { affected_files: files, affected_dm: 0, affected_jobs: jobs }
}
