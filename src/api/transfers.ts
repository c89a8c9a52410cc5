/** `/api/v1/transfers`: bulk inject, list, one transfer with its "why", kill and retry. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import {
  ERROR_RESPONSES,
  errorBodySchema,
  explanationSchema,
  idParamsSchema,
  injectBodySchema,
  injectResponseSchema,
  killResponseSchema,
  listQuerySchema,
  listResponseSchema,
  retryResponseSchema,
  type SelectorBody,
  selectorBodySchema,
} from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import { actsOnAll, type Identity } from '../domain/identity.js'
import { MAX_BATCH } from '../domain/request.js'
import { explainTransfer } from '../reports/explain.js'
import type { Selector } from '../store/ops/kill-retry.js'
import { callerOf } from './auth/authenticate.js'
import { assertOwner, ownerScope, taskScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'
import { errorBody } from './errors.js'
import { fitInjectAnswer } from './inject-answer.js'
import { injectBatch } from './inject-batch.js'

/** The requests of an inject body: a JSON array, or `{"transfers": [...]}`. */
function requestsOf(body: unknown): unknown[] {
  if (Array.isArray(body)) return body
  if (
    body !== null &&
    typeof body === 'object' &&
    Array.isArray((body as { transfers?: unknown }).transfers)
  ) {
    return (body as { transfers: unknown[] }).transfers
  }
  throw new AsoError(
    'invalid-request',
    'the body must be a JSON array of transfer requests, or {"transfers": [...]}',
  )
}

/** The selector of a kill or retry (or a publication retry), restricted to what the caller may act on. */
export async function selectorFor(
  ctx: ApiContext,
  caller: Identity,
  body: SelectorBody,
  what: string,
): Promise<{ sel: Selector; notFound: string[] }> {
  let user = ownerScope(caller, undefined, what)
  if (body.task !== undefined) user = await taskScope(ctx.store, caller, body.task, what)
  let notFound: string[] = []
  if (body.ids !== undefined) {
    const records = await ctx.store.getMany(body.ids)
    const found = new Set(records.map((r) => r.id))
    notFound = body.ids.filter((id) => !found.has(id))
    if (!actsOnAll(caller)) {
      const foreign = records.filter((r) => r.user !== caller.name).map((r) => r.id)
      if (foreign.length) {
        throw new AsoError(
          'forbidden',
          `${foreign.length} of these transfers belong to other users (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}): you are "${caller.name}" and may ${what} only your own; nothing was changed`,
        )
      }
    }
  }
  const sel: Selector = {
    ...(body.ids !== undefined ? { ids: body.ids } : {}),
    ...(body.task !== undefined ? { task: body.task } : {}),
    ...(user !== undefined ? { user } : {}),
  }
  return { sel, notFound }
}

/** What a kill or retry acted on, for its audit row (ids are cut: the files' histories hold each one). */
export function auditTarget(body: SelectorBody): { target: string; detail: Record<string, unknown> } {
  const ids = body.ids ?? []
  const target =
    body.task !== undefined ? `task ${body.task}` : `${ids.length} transfer${ids.length === 1 ? '' : 's'}`
  return {
    target,
    detail: {
      ...(body.task !== undefined ? { task: body.task } : {}),
      ...(ids.length ? { ids: ids.slice(0, 20) } : {}),
    },
  }
}

export const transferRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  const actorOf = (caller: Identity) => `api:${caller.name}`

  app.route({
    method: 'POST',
    url: '/transfers',
    // room for 10,000 requests with long LFNs (api.limits.injectBodyBytes); a bigger body is refused with 413
    // before it is read
    bodyLimit: ctx.config.api.limits.injectBodyBytes,
    // the body is checked item by item below, so that each item gets its own verdict
    validatorCompiler: () => (data) => ({ value: data }),
    schema: {
      operationId: 'injectTransfers',
      summary: 'Inject transfer requests (bulk, idempotent)',
      description: `Each request is validated on its own; the valid ones are stored in one transaction. 200 when at least one was accepted, 400 (same list) when none was; 413 beyond ${MAX_BATCH} requests.`,
      tags: ['transfers'],
      body: injectBodySchema,
      response: {
        ...ERROR_RESPONSES,
        200: injectResponseSchema,
        400: z.union([injectResponseSchema, errorBodySchema]),
        413: errorBodySchema,
      },
    },
    handler: async (request, reply) => {
      const { identity } = callerOf(request)
      const requests = requestsOf(request.body)
      if (requests.length > MAX_BATCH) {
        throw new AsoError(
          'too-large',
          `${requests.length} requests in one call: send at most ${MAX_BATCH} per call`,
        )
      }
      if (requests.length === 0) {
        return reply
          .code(400)
          .send({ results: [], ...errorBody('invalid-request', 'the body holds no transfer request') })
      }
      const all = await injectBatch(ctx, identity, requests, actorOf(identity))
      const { results, cutNote } = fitInjectAnswer(all, ctx.config.api.limits.answerBytes)
      const accepted = results.filter((r) => r.status !== 'rejected').length
      if (accepted === 0) {
        return reply.code(400).send({
          results,
          ...errorBody(
            'invalid-request',
            `none of the ${results.length} requests was accepted: each result's "error" says why${cutNote ? `; ${cutNote}` : ''}`,
          ),
        })
      }
      if (results.some((r) => r.status === 'created' || r.status === 'superseded')) {
        ctx.agent?.wake('submitter')
        ctx.changes.notify()
      }
      return cutNote ? { results, ...errorBody('answer-cut', cutNote) } : { results }
    },
  })

  app.route({
    method: 'GET',
    url: '/transfers',
    schema: {
      operationId: 'listTransfers',
      summary: 'List transfers (filters, cursor pagination)',
      description: 'Users see only their own transfers; operators see everyone’s.',
      tags: ['transfers'],
      querystring: listQuerySchema,
      response: { 200: listResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const q = request.query
      const user = ownerScope(identity, q.user, 'see')
      return ctx.store.list({
        ...(user !== undefined ? { user } : {}),
        ...(q.task !== undefined ? { task: q.task } : {}),
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.source !== undefined ? { source: q.source } : {}),
        ...(q.destination !== undefined ? { destination: q.destination } : {}),
        ...(q.class !== undefined ? { failureClass: q.class } : {}),
        ...(q.updatedSince !== undefined ? { updatedSince: q.updatedSince } : {}),
        ...(q.cursor !== undefined ? { cursor: q.cursor } : {}),
        limit: q.limit,
      })
    },
  })

  app.route({
    method: 'GET',
    url: '/transfers/:id',
    schema: {
      operationId: 'getTransfer',
      summary: 'One transfer: its record, its timeline and why it is where it is',
      tags: ['transfers'],
      params: idParamsSchema,
      response: { 200: explanationSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const record = await ctx.store.get(request.params.id)
      if (!record) {
        throw new AsoError(
          'not-found',
          `no transfer with id ${request.params.id}; the inject result gives each request's id`,
        )
      }
      assertOwner(identity, record, 'see')
      return explainTransfer(ctx.store, ctx.sites, ctx.config, record)
    },
  })

  app.route({
    method: 'POST',
    url: '/transfers/kill',
    schema: {
      operationId: 'killTransfers',
      summary: 'Kill transfers by ids or by task',
      description:
        'Files no engine holds end KILLED at once; in-flight ones are cancelled at their engine first.',
      tags: ['transfers'],
      body: selectorBodySchema,
      response: { 200: killResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const { sel, notFound } = await selectorFor(ctx, identity, request.body, 'kill')
      const actor = actorOf(identity)
      const reason = `killed by ${actor}${request.body.reason ? `: ${request.body.reason}` : ''}`
      const r = await ctx.store.kill(sel, reason, Date.now(), actor)
      const audit = auditTarget(request.body)
      await ctx.store.recordAudit({
        at: Date.now(),
        actor,
        action: 'kill',
        target: audit.target,
        detail: { ...audit.detail, ...r },
      })
      ctx.agent?.wake('killer')
      // files killed while queued are KILLED now: their webhooks can go
      if (r.killed) ctx.agent?.wake('notifier')
      ctx.changes.notify()
      return { ...r, notFound }
    },
  })

  app.route({
    method: 'POST',
    url: '/transfers/retry',
    schema: {
      operationId: 'retryTransfers',
      summary: 'Retry FAILED and KILLED transfers by ids or by task',
      tags: ['transfers'],
      body: selectorBodySchema,
      response: { 200: retryResponseSchema, ...ERROR_RESPONSES },
    },
    handler: async (request) => {
      const { identity } = callerOf(request)
      const { sel, notFound } = await selectorFor(ctx, identity, request.body, 'retry')
      const r = await ctx.store.retry(sel, Date.now(), actorOf(identity))
      const audit = auditTarget(request.body)
      await ctx.store.recordAudit({
        at: Date.now(),
        actor: actorOf(identity),
        action: 'retry',
        target: audit.target,
        detail: { ...audit.detail, ...r },
      })
      if (r.retried) ctx.agent?.wake('submitter')
      ctx.changes.notify()
      return { ...r, notFound }
    },
  })
}
