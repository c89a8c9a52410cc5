/**
 * Who a request comes from (fts-rest-flask FTS3AuthMiddleware): a bearer token first, then the TLS client
 * certificate (a proxy chain verified against the CA directory; the identity is the end-entity DN), else
 * the anonymous user. In `insecureDn` mode every request without a token is that DN.
 */
import type { TLSSocket } from 'node:tls'
import { loadTrustStore, type TrustStore, verifyPeer } from 'aso/credentials'
import type { FastifyRequest } from 'fastify'
import { ANONYMOUS, type Caller, certificateCaller, fqansFor } from './caller.js'
import { FtsHttpError } from './http-errors.js'
import { loadTokenVerifier, type TokenOptions, type TokenVerifier } from './token-verifier.js'

export interface AuthOptions {
  caDir?: string
  insecureDn?: string
  tokens?: TokenOptions
  /** VOMS FQANs per user DN (the double reads no VOMS attribute certificates) */
  vomsByDn?: Record<string, string[]>
  /** every certificate user without an entry in vomsByDn holds `/<vo>/Role=NULL/Capability=NULL` */
  vo?: string
  /** the server's own DN: a client presenting it is root */
  hostDn?: string
}

export interface Authenticator {
  identify(request: FastifyRequest): Promise<Caller>
}

/** The verified identity of a TLS connection, computed once per connection. */
type PeerIdentity = { dn: string; proxyDns: string[] } | null

export async function createAuthenticator(opts: AuthOptions): Promise<Authenticator> {
  const trust: TrustStore | undefined = opts.caDir ? await loadTrustStore(opts.caDir) : undefined
  const tokens: TokenVerifier | undefined = opts.tokens ? await loadTokenVerifier(opts.tokens) : undefined
  const peers = new WeakMap<object, Promise<PeerIdentity>>()

  const fqansOf = (dn: string): string[] => fqansFor(dn, opts.vomsByDn, opts.vo)

  const peerIdentity = (socket: TLSSocket): Promise<PeerIdentity> => {
    let known = peers.get(socket)
    if (!known) {
      known = (async () => {
        if (!trust || typeof socket.getPeerCertificate !== 'function') return null
        const v = await verifyPeer(socket.getPeerCertificate(true), trust)
        if (!v.ok) return null
        const proxyDns = v.path
          .slice(0, v.proxyDepth)
          .map((c) => c.subject)
          .reverse()
        return { dn: v.identityDn, proxyDns }
      })()
      peers.set(socket, known)
    }
    return known
  }

  return {
    async identify(request) {
      const origin = request.headers.origin
      if (origin) {
        let host = ''
        try {
          host = new URL(origin).host
        } catch (err) {
          void err // an unparsable Origin matches no Host
        }
        if (host !== request.headers.host)
          throw new FtsHttpError(403, 'Host and Origin do not match', { html: true })
      }
      const auth = request.headers.authorization
      if (auth && /^bearer\s/i.test(auth)) {
        if (!tokens) {
          throw new FtsHttpError(400, 'Unsupported authentication method: method=OAuth2', { html: true })
        }
        const caller = await tokens.callerOf(auth.replace(/^bearer\s+/i, '').trim())
        if (caller) return caller
      }
      if (opts.insecureDn !== undefined) {
        return certificateCaller({
          dn: opts.insecureDn,
          fqans: fqansOf(opts.insecureDn),
          hostDn: opts.hostDn,
        })
      }
      const peer = await peerIdentity(request.raw.socket as TLSSocket)
      if (!peer) return ANONYMOUS
      if (peer.dn === '')
        throw new FtsHttpError(401, 'A valid X509 certificate or proxy is needed', { html: true })
      return certificateCaller({
        dn: peer.dn,
        proxyDns: peer.proxyDns,
        fqans: fqansOf(peer.dn),
        hostDn: opts.hostDn,
      })
    },
  }
}
