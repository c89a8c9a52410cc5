/**
 * X.509 client certificates: a grid user's certificate or an RFC 3820 proxy chain. Node's TLS cannot validate
 * proxies, so the server asks for the certificate without rejecting it and the chain is verified here against
 * the CA directory (validity, RFC 3820 rules, CRLs and namespace policies); the identity is the end-entity
 * subject, mapped RDN by RDN to a username by `users[].dns` in aso.yaml (a grid-mapfile).
 */
import type { TLSSocket } from 'node:tls'
import type { AsoConfig } from '../../config/schema.js'
import {
  type ChainVerification,
  loadTrustStore,
  type Rdn,
  type TrustStore,
  verifyPeer,
} from '../../credentials/index.js'
import { AsoError } from '../../domain/errors.js'
import { type Caller, gridMap, identityOf } from './users.js'

/** Where warnings about the CA directory go (a missing CRL, a reload that failed). */
export type WarningSink = (message: string) => void

/** fetch-crl replaces CRLs every few hours: the CA directory is read again this often. */
const RELOAD_MS = 5 * 60_000

export class TlsIdentity {
  /** one verification per TLS connection: a keep-alive connection presents its chain once */
  private readonly verified = new WeakMap<object, Promise<ChainVerification | null>>()
  private readonly userOf: (subject: readonly Rdn[]) => string | undefined
  private loadedAt = Date.now()
  private reloading: Promise<void> | undefined

  private constructor(
    private readonly config: AsoConfig,
    private readonly caDir: string,
    private trust: TrustStore,
  ) {
    this.userOf = gridMap(config)
  }

  static async create(config: AsoConfig, caDir: string): Promise<TlsIdentity> {
    return new TlsIdentity(config, caDir, await loadTrustStore(caDir))
  }

  /** Reads the CA directory again in the background when it is older than RELOAD_MS; the old one serves meanwhile. */
  private refresh(warn: WarningSink): void {
    if (this.reloading !== undefined || Date.now() - this.loadedAt < RELOAD_MS) return
    this.reloading = loadTrustStore(this.caDir)
      .then((store) => {
        // keep the once-per-CA warnings once per process, not once per reload
        if (store.policy && this.trust.policy) store.policy.warned = this.trust.policy.warned
        this.trust = store
      })
      .catch((err: unknown) =>
        warn(`cannot read the CA directory again, still using the one read before: ${err}`),
      )
      .finally(() => {
        this.loadedAt = Date.now()
        this.reloading = undefined
      })
  }

  /** The verified chain of a connection, or null when the client presented no certificate. */
  private verify(socket: TLSSocket, warn: WarningSink): Promise<ChainVerification | null> {
    let known = this.verified.get(socket)
    if (!known) {
      this.refresh(warn)
      known = (async () => {
        if (typeof socket.getPeerCertificate !== 'function') return null
        const peer = socket.getPeerCertificate(true)
        if (!peer || Object.keys(peer).length === 0) return null
        return verifyPeer(peer, this.trust, new Date(), warn)
      })()
      this.verified.set(socket, known)
    }
    return known
  }

  /** The caller of a connection; null when it presented no certificate (a token may still identify it). */
  async callerOf(socket: TLSSocket, warn: WarningSink = () => {}): Promise<Caller | null> {
    const v = await this.verify(socket, warn)
    if (v === null) return null
    if (!v.ok) {
      throw new AsoError(
        'unauthenticated',
        `your client certificate was refused: ${v.reason}; present a valid grid certificate or proxy (voms-proxy-init makes a new proxy)`,
      )
    }
    const name = this.userOf(v.identityRdns)
    if (name === undefined) {
      throw new AsoError(
        'forbidden',
        `the certificate of ${v.identityDn} is valid but not mapped to an ASO user: ask an operator to add this DN to users.<name>.dns in aso.yaml`,
      )
    }
    return { identity: identityOf(this.config, name), method: 'certificate', dn: v.identityDn }
  }
}
