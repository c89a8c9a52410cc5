/** The GridSite delegation endpoints (docs/fts3-rest.md §1 "Delegation", §4). */
import type { FastifyRequest } from 'fastify'
import type { Caller } from '../caller.js'
import { FtsHttpError, forbidden } from '../http-errors.js'
import { sendJson } from '../replies.js'
import type { Handler } from '../route-table.js'
import { callerOf, type SimContext } from '../sim-context.js'
import { ftsTime } from '../wire-format.js'

/** Python clients from 3.12 on are answered `[]` instead of `null` when there is no credential. */
function wantsEmptyList(request: FastifyRequest): boolean {
  const m = /^fts-[^/\s]+\/(\d+)\.(\d+)/.exec(request.headers['user-agent'] ?? '')
  if (!m) return false
  const [major, minor] = [Number(m[1]), Number(m[2])]
  return major > 3 || (major === 3 && minor >= 12)
}

export function registerDelegationRoutes(ctx: SimContext): void {
  const { routes, delegations } = ctx

  /** The caller, once the id in the URL is theirs (and, unless `anyMethod`, they came with a certificate). */
  const owner = (request: FastifyRequest, anyMethod = false): Caller => {
    const caller = callerOf(ctx, request)
    if (!anyMethod && caller.method !== 'certificate') throw forbidden('Certificate required')
    if ((request.params as { id: string }).id !== caller.delegationId) {
      throw forbidden('The requested ID and the credentials ID do not match')
    }
    return caller
  }

  routes.add('GET', '/delegation/:id', async (request, reply) => {
    const credential = delegations.credentialOf(owner(request, true))
    if (!credential) return sendJson(reply, 200, wantsEmptyList(request) ? [] : null)
    return sendJson(reply, 200, {
      termination_time: ftsTime(credential.terminationTime),
      voms_attrs: credential.vomsAttrs.split('\n'),
    })
  })

  routes.add('DELETE', '/delegation/:id', async (request, reply) => {
    if (!delegations.remove(owner(request))) throw new FtsHttpError(404, 'Delegated credentials not found')
    return reply.code(204).send()
  })

  routes.add('GET', '/delegation/:id/request', async (request, reply) => {
    const { csrPem, delegationId } = delegations.request(owner(request))
    return reply
      .code(200)
      .header('X-Delegation-ID', delegationId)
      .type('text/plain; charset=utf-8')
      .send(csrPem)
  })

  const credential: Handler = async (request, reply) => {
    delegations.putCredential(owner(request), String(request.body ?? ''))
    return reply.code(201).type('text/html; charset=utf-8').send('')
  }
  routes.add('PUT', '/delegation/:id/credential', credential)
  routes.add('POST', '/delegation/:id/credential', credential)

  routes.add('POST', '/delegation/:id/voms', async (request) => {
    owner(request)
    throw new FtsHttpError(424, 'voms-proxy-init is not available to the FTS3 test double')
  })
}
