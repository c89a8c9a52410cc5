/** `/api/v1/tasks/{task}`: where a task's files are, and a long-poll until all of them are terminal. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ERROR_RESPONSES, taskParamsSchema, taskSummarySchema, waitQuerySchema } from '../contract/schemas.js'
import { taskSummary } from '../reports/task.js'
import { callerOf } from './auth/authenticate.js'
import { taskScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'

export const taskRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  app.route({
    method: 'GET',
    url: '/tasks/:task',
    schema: {
      operationId: 'getTask',
      summary: "A task's files: counts per state and failure class, bytes, failure reasons",
      description:
        'Users see their own files of the task; operators see everyone’s. A task with none of the caller’s files answers 404, as a missing one does.',
      tags: ['tasks'],
      params: taskParamsSchema,
      response: { 200: taskSummarySchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const { task } = request.params
      return taskSummary(ctx.store, task, await taskScope(ctx.store, identity, task, 'see'))
    },
  })

  app.route({
    method: 'GET',
    url: '/tasks/:task/wait',
    schema: {
      operationId: 'waitForTask',
      summary: 'Long-poll until every file of the task is terminal, or the timeout passes',
      description:
        'Answers 200 with the task summary either way: `complete` says whether every file is DONE, FAILED or KILLED. Ask again after a timeout.',
      tags: ['tasks'],
      params: taskParamsSchema,
      querystring: waitQuerySchema,
      response: { 200: taskSummarySchema, ...ERROR_RESPONSES },
    },
    handler: async (request, reply) => {
      const { identity } = callerOf(request)
      const { task } = request.params
      const deadline = Date.now() + request.query.timeout
      const user = await taskScope(ctx.store, identity, task, 'see')
      const gone = new AbortController()
      // the client went away: stop watching (the response's close also fires once it is sent, harmlessly)
      reply.raw.once('close', () => gone.abort())
      let summary = await taskSummary(ctx.store, task, user)
      // the newest event id is one index probe: the summary is recomputed only when something happened
      let seen = await ctx.store.latestEventId()
      while (!summary.complete && Date.now() < deadline && !gone.signal.aborted) {
        await ctx.changes.wait(Math.min(ctx.pollMs, deadline - Date.now()), gone.signal)
        const latest = await ctx.store.latestEventId()
        if (latest === seen) continue
        seen = latest
        summary = await taskSummary(ctx.store, task, user)
      }
      return summary
    },
  })
}
