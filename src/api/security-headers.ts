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

/** Adds the security headers to every answer; HTML gets the dashboard's policy. */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    const type = String(reply.getHeader('content-type') ?? '')
    // a plugin's own page (the OpenAPI browser) may bring a policy of its own
    if (!reply.hasHeader('content-security-policy')) {
      reply.header('content-security-policy', type.startsWith('text/html') ? DASHBOARD_CSP : API_CSP)
    }
    reply.header('x-frame-options', 'DENY')
    reply.header('x-content-type-options', 'nosniff')
    reply.header('referrer-policy', 'no-referrer')
    return payload
  })
}
