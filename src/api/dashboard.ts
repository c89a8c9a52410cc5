/**
 * `/api/v1/dashboard/*`: the read-only aggregates of the web dashboard (overview, time series, links, problems).
 * Each is computed from rollups and bounded index reads (store/ops/finished-reads.ts, store/ops/stuck-reads.ts),
 * never from a scan of the records. Plain users get their own numbers; operators everyone's, or one user's with ?user=.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import {
  dashboardLinksResponseSchema,
  failureClassesResponseSchema,
  overviewResponseSchema,
  problemsQuerySchema,
  problemsResponseSchema,
  scopeQuerySchema,
  timeseriesQuerySchema,
  timeseriesResponseSchema,
} from '../contract/dashboard.js'
import { ERROR_RESPONSES } from '../contract/schemas.js'
import { FAILURE_CLASSES, hintFor } from '../domain/failures.js'
import { linkMatrixReport } from '../reports/link-matrix.js'
import { overviewReport, timeseriesReport } from '../reports/overview.js'
import { problemsReport } from '../reports/problems.js'
import { callerOf } from './auth/authenticate.js'
import { ownerScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'

export const dashboardRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  const tags = ['dashboard']

  app.route({
    method: 'GET',
    url: '/dashboard/overview',
    schema: {
      operationId: 'getDashboardOverview',
      summary:
        'Counts per state, the last hour’s finished files and success rate, engine jobs, oldest waiting file',
      tags,
      querystring: scopeQuerySchema,
      response: { 200: overviewResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const user = ownerScope(callerOf(request).identity, request.query.user, 'see')
      return overviewReport(ctx.store, user, ctx.now())
    },
  })

  app.route({
    method: 'GET',
    url: '/dashboard/timeseries',
    schema: {
      operationId: 'getDashboardTimeseries',
      summary: 'Files and bytes DONE, FAILED and KILLED per minute (last hour) or per hour (last week)',
      tags,
      querystring: timeseriesQuerySchema,
      response: { 200: timeseriesResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const user = ownerScope(callerOf(request).identity, request.query.user, 'see')
      return timeseriesReport(ctx.store, request.query.range, user, ctx.now())
    },
  })

  app.route({
    method: 'GET',
    url: '/dashboard/links',
    schema: {
      operationId: 'getDashboardLinks',
      summary:
        'The source × destination matrix: active / limit, queued, last hour’s success rate and throughput',
      tags,
      querystring: scopeQuerySchema,
      response: { 200: dashboardLinksResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const user = ownerScope(callerOf(request).identity, request.query.user, 'see')
      return linkMatrixReport(ctx.store, ctx.sites, user, ctx.now())
    },
  })

  app.route({
    method: 'GET',
    url: '/failure-classes',
    schema: {
      operationId: 'listFailureClasses',
      summary: 'Every failure class with the hint shown to users (what it means, what to do)',
      tags,
      response: { 200: failureClassesResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      callerOf(request)
      return { classes: FAILURE_CLASSES.map((c) => ({ class: c, hint: hintFor(c) })) }
    },
  })

  app.route({
    method: 'GET',
    url: '/dashboard/problems',
    schema: {
      operationId: 'getDashboardProblems',
      summary:
        'Stuck files, users held for credentials or quota, sites whose failure rate jumped, expiring proxies',
      tags,
      querystring: problemsQuerySchema,
      response: { 200: problemsResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const q = request.query
      const user = ownerScope(callerOf(request).identity, q.user, 'see')
      return problemsReport(ctx.store, ctx.sites, ctx.config, {
        user,
        now: ctx.now(),
        stuckAfterMs: q.stuckAfter,
        proxyWithinMs: q.proxyWithin,
      })
    },
  })
}
