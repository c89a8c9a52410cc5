/**
 * One info line per answered request (method, path without its query, status, time, caller): Fastify's own
 * request logging stays off, since it logs the whole URL (a query may carry a secret) and every poll of
 * /health* and /metrics, which would drown the log. Headers are never logged (tokens, cookies).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'

/** Polled by load balancers and Prometheus every few seconds: not logged. */
function quiet(path: string): boolean {
  return path === '/metrics' || path === '/health' || path.startsWith('/health/')
}

function pathOf(request: FastifyRequest): string {
  const url = request.raw.url ?? request.url
  const q = url.indexOf('?')
  return q === -1 ? url : url.slice(0, q)
}

export function logRequests(app: FastifyInstance): void {
  app.addHook('onResponse', async (request, reply) => {
    const path = pathOf(request)
    if (quiet(path)) return
    request.log.info(
      {
        method: request.method,
        path,
        route: request.routeOptions.url ?? null,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
        user: request.caller?.identity.name ?? null,
        remote: request.ip,
      },
      'request',
    )
  })
}
