/**
 * Requests per identity (not per address: many users share a site's NAT, one user many hosts): past
 * `api.limits.requests` in `api.limits.requestWindow` a caller is answered 429 until the window turns, before
 * its body is read.
 */
import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import { AsoError } from '../domain/errors.js'
import { callerOf } from './auth/authenticate.js'
import type { ApiLimits } from './connection-limits.js'

/** Registers the per-identity limit on `app` (whose requests are authenticated by an onRequest hook). */
export async function limitRequestRate(app: FastifyInstance, limits: ApiLimits): Promise<void> {
  if (limits.requests === 0) return
  await app.register(rateLimit, {
    global: true,
    max: limits.requests,
    timeWindow: limits.requestWindow,
    // after authentication (onRequest), before the body is parsed
    hook: 'preParsing',
    keyGenerator: (request) => callerOf(request).identity.name,
    errorResponseBuilder: (request, context) =>
      new AsoError(
        'too-many-requests',
        `you ("${callerOf(request).identity.name}") sent more than ${context.max} requests in ${Math.round(limits.requestWindow / 1000)} s, the most allowed: wait ${context.after} and send fewer (batch injects, one event stream instead of polling)`,
      ),
  })
}
