import type { TLSSocket } from 'node:tls'
import type { FastifyRequest } from 'fastify'
import type { AsoConfig } from '../../config/schema.js'
import { AsoError } from '../../domain/errors.js'
import { insecureCaller } from './insecure-identity.js'
import { TlsIdentity } from './tls-identity.js'
import { TokenIdentity } from './token-identity.js'
import type { Caller } from './users.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the authentication hook of /api/v1 */
    caller: Caller | null
  }
}

export interface Authenticator {
  authenticate(request: FastifyRequest): Promise<Caller>
}

/**
 * Who a request comes from. With TLS: a bearer token when one is sent, else the client certificate (or proxy
 * chain). With `--insecure-dev`: the X-ASO-User header. No credential at all is a 401 that says what to send.
 */
export async function createAuthenticator(
  config: AsoConfig,
  mode: { tls: { caDir: string } } | { insecureDev: true },
): Promise<Authenticator> {
  if ('insecureDev' in mode) return { authenticate: async (request) => insecureCaller(config, request) }
  const certs = await TlsIdentity.create(config, mode.tls.caDir)
  const tokens = await TokenIdentity.create(config)
  return {
    async authenticate(request) {
      const auth = request.headers.authorization
      if (auth !== undefined && /^bearer\s+/i.test(auth)) {
        return tokens.callerOf(auth.replace(/^bearer\s+/i, '').trim(), (msg) => request.log.debug(msg))
      }
      const caller = await certs.callerOf(request.raw.socket as TLSSocket, (msg) => request.log.warn(msg))
      if (caller) return caller
      throw new AsoError(
        'unauthenticated',
        `no credential: present a grid certificate or proxy (aso --proxy FILE, or --cert/--key)${tokens.enabled ? ' or a bearer token (aso --token-file FILE)' : ''}`,
      )
    },
  }
}

/** The authenticated caller of a request of /api/v1. */
export function callerOf(request: FastifyRequest): Caller {
  if (!request.caller) throw new AsoError('internal', 'route reached without authentication')
  return request.caller
}
