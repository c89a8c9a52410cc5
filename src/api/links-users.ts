/** `/api/v1/links`, `/users`, `/status` and `/whoami`: the shared picture, scoped to what the caller may see. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import {
  ERROR_RESPONSES,
  type LinksResponse,
  linksResponseSchema,
  statusQuerySchema,
  statusResponseSchema,
  type UsersResponse,
  usersResponseSchema,
  whoamiResponseSchema,
} from '../contract/schemas.js'
import { actsOnAll } from '../domain/identity.js'
import { IN_FLIGHT_STATES, type TransferState } from '../domain/states.js'
import { linkKey } from '../domain/transfer.js'
import { adaptiveView, effectiveLink, RECENT_DECISIONS } from '../reports/link-limits.js'
import { statusReport } from '../reports/status.js'
import { callerOf } from './auth/authenticate.js'
import { ownerScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'

type StateCounts = Partial<Record<TransferState, number>>

function add(counts: StateCounts, state: TransferState, n: number): void {
  counts[state] = (counts[state] ?? 0) + n
}

export const linkUserRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  app.route({
    method: 'GET',
    url: '/links',
    schema: {
      operationId: 'listLinks',
      summary: 'Links: limits, pause state, files active and queued',
      description:
        'Every link with files or an operator setting; counts are of all users (a link is shared).',
      tags: ['links'],
      response: { 200: linksResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request): Promise<LinksResponse> => {
      callerOf(request)
      const [rows, settings, decisions] = await Promise.all([
        ctx.store.counts(),
        ctx.store.linkSettings(),
        ctx.store.linkDecisions(null, RECENT_DECISIONS),
      ])
      const byLink = new Map<string, { source: string; destination: string; states: StateCounts }>()
      for (const r of rows) {
        const key = linkKey(r.source, r.destination)
        const l = byLink.get(key) ?? { source: r.source, destination: r.destination, states: {} }
        add(l.states, r.state, r.n)
        byLink.set(key, l)
      }
      for (const s of settings) {
        const [source, destination] = s.link.split('->')
        if (source && destination && !byLink.has(s.link))
          byLink.set(s.link, { source, destination, states: {} })
      }
      const links = [...byLink.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([link, l]) => {
          const cfg = effectiveLink(ctx.sites, settings, l.source, l.destination)
          return {
            link,
            source: l.source,
            destination: l.destination,
            maxActive: cfg.maxActive,
            maxFilesPerJob: cfg.maxFilesPerJob,
            paused: cfg.paused,
            engine: cfg.engine,
            adaptive: adaptiveView(ctx.sites, settings, decisions, l.source, l.destination),
            active: IN_FLIGHT_STATES.reduce((n, s) => n + (l.states[s] ?? 0), 0),
            queued: l.states.NEW ?? 0,
            states: l.states,
          }
        })
      return { links }
    },
  })

  app.route({
    method: 'GET',
    url: '/users',
    schema: {
      operationId: 'listUsers',
      summary: 'Users: role, fair-share weight and files per state',
      description: 'Users see themselves; operators see everyone.',
      tags: ['users'],
      response: { 200: usersResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request): Promise<UsersResponse> => {
      const { identity } = callerOf(request)
      const scope = ownerScope(identity, undefined, 'see')
      const [rows, weights] = await Promise.all([
        ctx.store.counts(scope !== undefined ? { user: scope } : {}),
        ctx.store.userWeights(),
      ])
      const byUser = new Map<string, StateCounts>()
      if (scope !== undefined) byUser.set(scope, {})
      else for (const name of Object.keys(ctx.config.users)) byUser.set(name, {})
      for (const r of rows) {
        const states = byUser.get(r.user) ?? {}
        add(states, r.state, r.n)
        byUser.set(r.user, states)
      }
      const users = [...byUser.entries()]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([user, states]) => ({
          user,
          role: ctx.config.users[user]?.role ?? 'user',
          weight: weights.get(user) ?? ctx.config.users[user]?.weight ?? 1,
          states,
        }))
      return { users }
    },
  })

  app.route({
    method: 'GET',
    url: '/status',
    schema: {
      operationId: 'getStatus',
      summary: 'Counts per state, per link and per user (what `aso status` prints)',
      description: 'Users see their own transfers; operators everyone’s, or one user’s with ?user=.',
      tags: ['users'],
      querystring: statusQuerySchema,
      response: { 200: statusResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const user = ownerScope(identity, request.query.user, 'see')
      return statusReport(ctx.store, {
        ...(user !== undefined ? { user } : {}),
        ...(request.query.task !== undefined ? { task: request.query.task } : {}),
      })
    },
  })

  app.route({
    method: 'GET',
    url: '/whoami',
    schema: {
      operationId: 'whoAmI',
      summary: 'Who the API takes you for: username, role, groups, how you authenticated',
      tags: ['users'],
      response: { 200: whoamiResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity, method, dn } = callerOf(request)
      return {
        name: identity.name,
        role: actsOnAll(identity) ? identity.role : 'user',
        groups: identity.groups === null ? null : [...identity.groups],
        vomsRoles: [...identity.vomsRoles],
        method,
        ...(dn !== undefined ? { dn } : {}),
      }
    },
  })
}
