/** `GET /api/v1/tasks`: tasks with their files per state, newest first, from the task rollup (no scan). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { type TaskListResponse, taskListQuerySchema, taskListResponseSchema } from '../contract/dashboard.js'
import { ERROR_RESPONSES } from '../contract/schemas.js'
import { TRANSFER_STATES } from '../domain/states.js'
import { callerOf } from './auth/authenticate.js'
import { ownerScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'

export const taskListRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  app.route({
    method: 'GET',
    url: '/tasks',
    schema: {
      operationId: 'listTasks',
      summary: 'Tasks with their files per state and bytes (search by name, filter by status; cursor pages)',
      description: 'Users see their own tasks; operators everyone’s, or one user’s with ?user=.',
      tags: ['tasks'],
      querystring: taskListQuerySchema,
      response: { 200: taskListResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request): Promise<TaskListResponse> => {
      const q = request.query
      const user = ownerScope(callerOf(request).identity, q.user, 'see')
      const page = await ctx.store.taskList({
        ...(user !== undefined ? { user } : {}),
        ...(q.q ? { q: q.q } : {}),
        ...(q.status !== 'all' ? { status: q.status } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        limit: q.limit,
      })
      return {
        items: page.items.map((t) => ({
          ...t,
          total: TRANSFER_STATES.reduce((n, s) => n + t.states[s], 0),
        })),
        next: page.next,
      }
    },
  })
}
