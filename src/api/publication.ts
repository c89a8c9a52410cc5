/** `/api/v1/publication/retry`: FAILED publications get a new round (what `aso publish --retry` does). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { ERROR_RESPONSES, publicationRetryResponseSchema, selectorBodySchema } from '../contract/schemas.js'
import { callerOf } from './auth/authenticate.js'
import type { ApiContext } from './context.js'
import { auditTarget, selectorFor } from './transfers.js'

export const publicationRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  app.route({
    method: 'POST',
    url: '/publication/retry',
    schema: {
      operationId: 'retryPublications',
      summary: 'Retry FAILED publications by ids or by task',
      description:
        'A block the catalog refused as a whole is registered again with its failed files (its attempts reset); a file refused on its own goes back to PENDING and joins a new block. Users retry their own files; operators anyone’s. `notFailed` counts named files whose publication has not FAILED.',
      tags: ['publication'],
      body: selectorBodySchema,
      response: { 200: publicationRetryResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const actor = `api:${identity.name}`
      const { sel, notFound } = await selectorFor(ctx, identity, request.body, 'retry the publication of')
      const r = await ctx.store.retryPublications(sel, Date.now(), actor)
      const audit = auditTarget(request.body)
      await ctx.store.recordAudit({
        at: Date.now(),
        actor,
        action: 'publication-retry',
        target: audit.target,
        detail: { ...audit.detail, ...r },
      })
      if (r.republished || r.requeued) {
        ctx.agent?.wake('publisher')
        ctx.changes.notify()
      }
      return { ...r, notFound }
    },
  })
}
