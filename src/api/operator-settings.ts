/**
 * Operators' runtime settings (ARCHITECTURE.md section 6): pause, resume and limit a link, weigh a user's fair
 * share. They live in the store, override aso.yaml, and each change is an audit row with its actor; `GET /audit`
 * lists those rows (and the kills and retries asked through the API).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import {
  auditQuerySchema,
  auditResponseSchema,
  linkChangeBodySchema,
  linkParamsSchema,
  linkSettingResponseSchema,
  userParamsSchema,
  weightBodySchema,
  weightResponseSchema,
} from '../contract/dashboard.js'
import { ERROR_RESPONSES } from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import { linkSettingView } from '../reports/link-limits.js'
import { callerOf } from './auth/authenticate.js'
import { requireOperator } from './auth/authorize.js'
import type { ApiContext } from './context.js'

export const operatorSettingRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  const actorOf = (name: string) => `api:${name}`

  app.route({
    method: 'POST',
    url: '/links/:link',
    schema: {
      operationId: 'updateLink',
      summary: 'Pause or resume a link, or change its maxActive (operators)',
      description:
        'The change overrides aso.yaml until changed again (maxActive null: back to aso.yaml) and is recorded in the audit list. On an adaptive link (links.*.adaptive) a maxActive pins the limit; maxActive null unpins it and the tuner moves it again. Write the link as SOURCE->DESTINATION (URL-encoded: SOURCE-%3EDESTINATION).',
      tags: ['links'],
      params: linkParamsSchema,
      body: linkChangeBodySchema,
      response: { 200: linkSettingResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      requireOperator(identity, 'changing a link')
      const { link } = request.params
      const [source, destination] = link.split('->') as [string, string]
      for (const site of [source, destination]) {
        if (!ctx.sites.has(site)) {
          throw new AsoError('not-found', `no site "${site}" in the site catalog: check the link ${link}`, {
            field: 'link',
          })
        }
      }
      const { paused, maxActive } = request.body
      await ctx.store.setLinkSetting(
        link,
        { ...(paused !== undefined ? { paused } : {}), ...(maxActive !== undefined ? { maxActive } : {}) },
        actorOf(identity.name),
        ctx.now(),
      )
      // a resumed or widened link may take files at once
      ctx.agent?.wake('submitter')
      return linkSettingView(ctx.store, ctx.sites, source, destination)
    },
  })

  app.route({
    method: 'POST',
    url: '/users/:user/weight',
    schema: {
      operationId: 'setUserWeight',
      summary: "Change a user's fair-share weight (operators)",
      description: 'Overrides users.<name>.weight of aso.yaml; recorded in the audit list.',
      tags: ['users'],
      params: userParamsSchema,
      body: weightBodySchema,
      response: { 200: weightResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      requireOperator(identity, "changing a user's weight")
      const { user } = request.params
      await ctx.store.setUserWeight(user, request.body.weight, actorOf(identity.name), ctx.now())
      return { user, weight: request.body.weight }
    },
  })

  app.route({
    method: 'GET',
    url: '/audit',
    schema: {
      operationId: 'listAuditEntries',
      summary: 'Actions taken, newest first: link and weight changes, holds, kills and retries (operators)',
      tags: ['operations'],
      querystring: auditQuerySchema,
      response: { 200: auditResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      requireOperator(callerOf(request).identity, 'the audit list')
      const { limit, before } = request.query
      const items = await ctx.store.auditLog(limit + 1, before)
      const page = items.slice(0, limit)
      return { items: page, next: items.length > limit ? (page.at(-1)?.id ?? null) : null }
    },
  })
}
