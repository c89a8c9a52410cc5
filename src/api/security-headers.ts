/**
 * Headers that keep the dashboard and the API out of other sites' frames and scripts: a Content-Security-Policy
 * (the dashboard loads only its own files and talks only to this server; the API's JSON loads nothing),
 * X-Frame-Options for browsers without frame-ancestors, and nosniff so JSON is never run as a script.
 */
import type { FastifyInstance } from 'fastify'

/** The dashboard's page: its own scripts and styles, charts drawn in canvas/SVG, calls to this server only. */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // ECharts and React set style attributes; no inline script is allowed
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

/** Everything else (JSON, event streams, metrics): nothing to load, never framed. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/** The API's own answers; the dashboard's files and the OpenAPI browser (/api/docs) are pages. */
const API_PATHS = /^\/(?:api(?:\/(?!docs(?:\/|$))|$)|health$|metrics$)/

/** Adds the security headers to every answer; the pages and their files get the dashboard's policy. */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (request, reply, payload) => {
    // by path, not by Content-Type: a 304 for a cached page carries none, and its policy replaces the page's
    const pathname = request.url.split('?')[0] ?? '/'
    if (!reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', API_PATHS.test(pathname) ? API_CSP : DASHBOARD_CSP)
    }
    reply.header('x-frame-options', 'DENY')
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    return payload
  })
}
