/**
 * Every refusal of the API has one shape, `{"error": {"code", "message", "field"?}}`, with a message that says
 * what to do. A 5xx is only for real faults of ours; the client never sees a stack.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify'
import type { ErrorBody } from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'

export function errorBody(code: string, message: string, field?: string): ErrorBody {
  return { error: { code, message, ...(field === undefined ? {} : { field }) } }
}

export function sendAsoError(reply: FastifyReply, e: AsoError): FastifyReply {
  return reply.code(e.status).send(errorBody(e.code, e.message, e.field))
}

/** Fastify's own refusals, reworded to say what to send instead. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_JSON_BODY:
    'the body is not valid JSON: send a JSON document (Content-Type: application/json)',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty: send a JSON document',
  FST_ERR_CTP_BODY_TOO_LARGE:
    'the body is too large: split it (at most 10,000 transfer requests or ids per call)',
  FST_ERR_CTP_INVALID_MEDIA_TYPE:
    'this API reads only JSON bodies: send the body with Content-Type: application/json',
}

interface ValidationIssue {
  instancePath?: string
  message?: string
}

/** The field a schema validation issue is about: `querystring.limit`, `body.ids.3`. */
function issueField(context: string | undefined, issue: ValidationIssue): string {
  const path = (issue.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.')
  return [context, path].filter(Boolean).join('.') || '(request)'
}

/** Maps every error a route throws to the error body and status. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof AsoError) {
      if (err.status >= 500) request.log.error({ err }, 'request failed')
      return sendAsoError(reply, err)
    }
    if (Array.isArray(err.validation) && err.validation.length > 0) {
      const issue = err.validation[0] as ValidationIssue
      const field = issueField(err.validationContext, issue)
      return reply
        .code(400)
        .send(errorBody('invalid-request', `${field}: ${issue.message ?? 'is not valid'}`, field))
    }
    const status = err.statusCode
    if (status !== undefined && status >= 400 && status < 500) {
      const message = FASTIFY_MESSAGES[err.code] ?? err.message
      return reply.code(status).send(errorBody('invalid-request', message))
    }
    request.log.error({ err }, 'request failed')
    return reply
      .code(500)
      .send(
        errorBody(
          'internal',
          `internal error (request ${request.id}); try again, and tell the ASO operators if it persists`,
        ),
      )
  })
  app.setNotFoundHandler((request, reply) =>
    reply
      .code(404)
      .send(
        errorBody(
          'not-found',
          `no such endpoint: ${request.method} ${request.url.split('?')[0]}; see /api/openapi.json for the API`,
        ),
      ),
  )
}
