/** Writing answers the way the REST server does: JSON bodies, werkzeug status names and HTML error pages. */
import type { FastifyReply } from 'fastify'
import { errorBody, errorPage, FtsHttpError, statusLineReason } from './http-errors.js'

/** Sends `value` as JSON (a bare string, null or a list as well as an object). */
export function sendJson(reply: FastifyReply, code: number, value: unknown): FastifyReply {
  const reason = statusLineReason(code)
  if (reason) reply.raw.statusMessage = reason
  return reply.code(code).type('application/json').send(JSON.stringify(value))
}

/** Answers an error: shape 1 JSON, or werkzeug's HTML page for `html` errors; 500 for anything unexpected. */
export function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e = err instanceof FtsHttpError ? err : new FtsHttpError(500)
  for (const [k, v] of Object.entries(e.headers)) reply.header(k, v)
  if (e.html) {
    const reason = statusLineReason(e.code)
    if (reason) reply.raw.statusMessage = reason
    return reply.code(e.code).type('text/html; charset=utf-8').send(errorPage(e.code, e.message))
  }
  return sendJson(reply, e.code, errorBody(e.code, e.message))
}
