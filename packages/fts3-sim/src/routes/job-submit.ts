/** `POST|PUT /jobs` (docs/fts3-rest.md §1, §2, §7). */

import { applyBans } from '../banning.js'
import { forbidden } from '../http-errors.js'
import { sendJson } from '../replies.js'
import { inputAsDict } from '../request-body.js'
import type { Handler } from '../route-table.js'
import { callerOf, queryOf, type SimContext } from '../sim-context.js'
import { buildJob } from '../submission.js'

export function registerJobSubmitRoutes(ctx: SimContext): void {
  const submit: Handler = async (request, reply) => {
    const caller = callerOf(ctx, request)
    if (caller.transferLevel === null) throw forbidden('Not enough permissions')
    const body = inputAsDict(
      request.method,
      request.headers['content-type'],
      String(request.body ?? ''),
      queryOf(request),
    )
    if (caller.method === 'certificate') ctx.delegations.checkForSubmission(caller)
    const now = Date.now()
    const job = buildJob(body, { caller, now, submitHost: ctx.submitHost })
    applyBans(job, ctx.bans)
    ctx.store.insert(job)
    ctx.scheduler.wake()
    const hold = ctx.faults.takeHold()
    if (hold > 0) await new Promise((resolve) => setTimeout(resolve, hold))
    if (ctx.faults.takeDrop()) {
      // the job exists; the client never hears so
      reply.hijack()
      request.raw.socket.destroy()
      return reply
    }
    return sendJson(reply, 200, { job_id: job.jobId })
  }
  ctx.routes.add('POST', '/jobs', submit)
  ctx.routes.add('PUT', '/jobs', submit)
}
