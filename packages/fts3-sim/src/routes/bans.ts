/**
 * `/ban/se` and `/ban/dn` (docs/fts3-rest.md §1 "Bans"): root only (the CONFIG level). Banning answers the
 * ids of the jobs it touched; unbanning answers 204.
 */
import type { FastifyRequest } from 'fastify'
import type { SeBanStatus } from '../ban-list.js'
import { cancelJobsOf, cancelTransfersOn, holdTransfersOn, releaseTransfersOn } from '../banning.js'
import type { Caller } from '../caller.js'
import { badRequest, FtsHttpError, forbidden } from '../http-errors.js'
import { truthy } from '../python-values.js'
import { sendJson } from '../replies.js'
import { type Dict, isDict } from '../request-body.js'
import { callerOf, queryOf, type SimContext } from '../sim-context.js'

/** `authorize(CONFIG)`: only root holds the config level. */
function admin(ctx: SimContext, request: FastifyRequest): Caller {
  const caller = callerOf(ctx, request)
  if (!caller.isRoot) throw forbidden('Not enough permissions')
  return caller
}

/** A JSON body, or form fields and query arguments otherwise. */
function input(request: FastifyRequest): Dict {
  const body = String(request.body ?? '')
  if (String(request.headers['content-type'] ?? '').startsWith('application/json')) {
    let value: unknown
    try {
      value = JSON.parse(body)
    } catch (err) {
      void err // the server names no detail
      throw badRequest('Malformed input')
    }
    if (!isDict(value)) throw badRequest('Malformed input')
    return value
  }
  const out: Dict = {}
  for (const [k, v] of queryOf(request)) out[k] = v
  for (const [k, v] of new URLSearchParams(body)) out[k] = v
  return out
}

const text = (v: unknown): string =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v)

export function registerBanRoutes(ctx: SimContext): void {
  const { routes, bans, store, scheduler } = ctx

  routes.add('POST', '/ban/se', async (request, reply) => {
    const caller = admin(ctx, request)
    const body = input(request)
    const storage = text(body.storage)
    if (!storage) throw badRequest('Missing storage parameter')
    const allowSubmit = truthy(body.allow_submit)
    const status = text(body.status ?? 'cancel').toUpperCase()
    if (status !== 'CANCEL' && status !== 'WAIT') throw badRequest('status can only be cancel or wait')
    if (allowSubmit && status === 'CANCEL') {
      throw badRequest('allow_submit and status = CANCEL can not be combined')
    }
    const vo = caller.vos[0] ?? '*'
    const banStatus: SeBanStatus = allowSubmit ? 'WAIT_AS' : status
    bans.banSe({
      se: storage,
      vo,
      status: banStatus,
      message: text(body.message),
      adminDn: caller.userDn,
      additionTime: new Date(),
    })
    const affected =
      status === 'CANCEL'
        ? cancelTransfersOn(store, scheduler, storage, vo)
        : holdTransfersOn(store, storage, vo)
    return sendJson(reply, 200, affected)
  })

  routes.add('DELETE', '/ban/se', async (request, reply) => {
    const caller = admin(ctx, request)
    const storage = queryOf(request).get('storage')
    if (!storage) throw badRequest('Missing storage parameter')
    const vo = caller.vos[0] ?? '*'
    bans.unbanSe(storage, vo)
    releaseTransfersOn(store, storage, vo)
    scheduler.wake()
    return reply.code(204).send()
  })

  routes.add('GET', '/ban/se', async (request, reply) => {
    admin(ctx, request)
    return sendJson(reply, 200, bans.seRows())
  })

  routes.add('POST', '/ban/dn', async (request, reply) => {
    const caller = admin(ctx, request)
    const dn = text(input(request).user_dn)
    if (!dn) throw badRequest('Missing dn parameter')
    if (dn === caller.userDn) throw new FtsHttpError(409, 'The user tried to ban (her|his)self')
    bans.banDn({ dn, message: '', adminDn: caller.userDn, additionTime: new Date() })
    return sendJson(reply, 200, cancelJobsOf(store, scheduler, dn))
  })

  routes.add('DELETE', '/ban/dn', async (request, reply) => {
    admin(ctx, request)
    const dn = queryOf(request).get('user_dn')
    if (!dn) throw badRequest('Missing user_dn parameter')
    bans.unbanDn(dn)
    return reply.code(204).send()
  })

  routes.add('GET', '/ban/dn', async (request, reply) => {
    admin(ctx, request)
    return sendJson(reply, 200, bans.dnRows())
  })
}
