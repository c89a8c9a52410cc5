/**
 * State changes only from our own pages or from non-browser clients. A browser holding a grid certificate or
 * a session presents it to any page's request, so a page elsewhere could post to /api/v1/transfers/kill; the
 * browser says where a request comes from (Origin, Sec-Fetch-Site), and such a request is refused.
 * Clients that send neither header (the CLI, curl, scripts) are not browsers and pass.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AsoError } from '../domain/errors.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** Why a request may not change state here, or null: a cross-site browser request. */
export function crossSiteProblem(request: FastifyRequest): string | null {
  if (SAFE_METHODS.has(request.method)) return null
  const site = header(request, 'sec-fetch-site')
  if (site === 'cross-site' || site === 'same-site') {
    return `a page of another site may not change anything here (Sec-Fetch-Site: ${site}): use the ASO dashboard served by this server, or the aso CLI`
  }
  const origin = header(request, 'origin')
  if (origin === undefined) return null
  const own = `${request.protocol}://${request.host}`
  if (origin.toLowerCase() !== own.toLowerCase()) {
    return `a page of ${origin} may not change anything here (only pages of ${own}): use the ASO dashboard served by this server, or the aso CLI`
  }
  return null
}

/** Refuses (403) every state-changing request a browser sends from another origin, before its body is read. */
export function refuseCrossSiteChanges(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    const problem = crossSiteProblem(request)
    if (problem) throw new AsoError('forbidden', problem)
  })
}
