/** `GET /archive/{id}[/{field}]`: finished jobs once moved out of the live tables (docs/fts3-rest.md §1). */
import { mayAccess } from '../caller.js'
import { FtsHttpError, notFound } from '../http-errors.js'
import type { SimJob } from '../job-model.js'
import { fileJson, jobField, jobJson } from '../job-view.js'
import { sendJson } from '../replies.js'
import { callerOf, type SimContext } from '../sim-context.js'

export function registerArchiveRoutes(ctx: SimContext): void {
  const archived = (request: Parameters<typeof callerOf>[1], id: string): SimJob => {
    const job = ctx.store.getArchived(id)
    if (!job) throw new FtsHttpError(404, `No job with the id "${id}" has been found`)
    if (!mayAccess(callerOf(ctx, request), job.userDn, job.voName)) {
      throw new FtsHttpError(403, `Not enough permissions to check the job "${id}"`)
    }
    return job
  }
  ctx.routes.add('GET', '/archive/:id', async (request, reply) => {
    const job = archived(request, (request.params as { id: string }).id)
    return sendJson(reply, 200, { ...jobJson(job), files: job.files.map(fileJson) })
  })
  ctx.routes.add('GET', '/archive/:id/:field', async (request, reply) => {
    const { id, field } = request.params as { id: string; field: string }
    const value = jobField(archived(request, id), field)
    if (value === undefined) throw notFound('No such field')
    return sendJson(reply, 200, value)
  })
}
