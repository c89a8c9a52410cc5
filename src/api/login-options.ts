/**
 * `GET /api/login-options` (public): how a browser may authenticate here, so the dashboard's login page offers
 * the right form (a token, a username for --insecure-dev) and makes no request it knows will be refused.
 */
import type { TLSSocket } from 'node:tls'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import type { AsoConfig } from '../config/schema.js'
import { loginOptionsResponseSchema } from '../contract/dashboard.js'

export const loginOptionRoutes: FastifyPluginAsyncZod<{ config: AsoConfig; insecureDev: boolean }> = async (
  app,
  { config, insecureDev },
) => {
  app.route({
    method: 'GET',
    url: '/api/login-options',
    schema: {
      operationId: 'getLoginOptions',
      summary: 'How to authenticate: client certificates, bearer tokens, or (--insecure-dev) a username',
      tags: ['operations'],
      security: [],
      response: { 200: loginOptionsResponseSchema },
    },
    handler: async (request) => {
      const socket = request.raw.socket as Partial<TLSSocket>
      const peer =
        !insecureDev && typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : null
      return {
        insecureDev,
        tokens: !insecureDev && config.api.tokens.issuers.length > 0,
        certificates: !insecureDev,
        certificatePresented: peer !== null && Object.keys(peer).length > 0,
      }
    },
  })
}
