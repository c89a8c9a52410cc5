/**
 * X.509 client certificates: a grid user's certificate or an RFC 3820 proxy chain. Node's TLS cannot validate
 * proxies, so the server asks for the certificate without rejecting it and the chain is verified here against
 * the CA directory (validity, RFC 3820 rules); the identity is the end-entity DN, mapped to a username by
 * `users[].dns` in aso.yaml (a grid-mapfile).
 */
import type { TLSSocket } from 'node:tls'
import type { AsoConfig } from '../../config/schema.js'
import {
  type ChainVerification,
  loadTrustStore,
  type TrustStore,
  verifyPeer,
} from '../../credentials/index.js'
import { AsoError } from '../../domain/errors.js'
import { type Caller, gridMap, identityOf } from './users.js'

export class TlsIdentity {
  /** one verification per TLS connection: a keep-alive connection presents its chain once */
  private readonly verified = new WeakMap<object, Promise<ChainVerification | null>>()
  private readonly dns: Map<string, string>

  private constructor(
    private readonly config: AsoConfig,
    private readonly trust: TrustStore,
  ) {
    this.dns = gridMap(config)
  }

  static async create(config: AsoConfig, caDir: string): Promise<TlsIdentity> {
    return new TlsIdentity(config, await loadTrustStore(caDir))
  }

  /** The verified chain of a connection, or null when the client presented no certificate. */
  private verify(socket: TLSSocket): Promise<ChainVerification | null> {
    let known = this.verified.get(socket)
    if (!known) {
      known = (async () => {
        if (typeof socket.getPeerCertificate !== 'function') return null
        const peer = socket.getPeerCertificate(true)
        if (!peer || Object.keys(peer).length === 0) return null
        return verifyPeer(peer, this.trust)
      })()
      this.verified.set(socket, known)
    }
    return known
  }

  /** The caller of a connection; null when it presented no certificate (a token may still identify it). */
  async callerOf(socket: TLSSocket): Promise<Caller | null> {
    const v = await this.verify(socket)
    if (v === null) return null
    if (!v.ok) {
      throw new AsoError(
        'unauthenticated',
        `your client certificate was refused: ${v.reason}; present a valid grid certificate or proxy (voms-proxy-init makes a new proxy)`,
      )
    }
    const name = this.dns.get(v.identityDn)
    if (name === undefined) {
      throw new AsoError(
        'forbidden',
        `the certificate of ${v.identityDn} is valid but not mapped to an ASO user: ask an operator to add this DN to users.<name>.dns in aso.yaml`,
      )
    }
    return { identity: identityOf(this.config, name), method: 'certificate', dn: v.identityDn }
  }
}
