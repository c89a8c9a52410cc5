/**
 * Keeps a user's delegated proxy alive on each FTS3 server (docs/fts3-rest.md §4): `GET /delegation/{id}`; when
 * there is none, or it has less than `renewBelow` left and the user's proxy outlives it by an hour or more,
 * fetch the server's CSR, sign it as an RFC 3820 proxy with the user's proxy key and PUT the chain. What the
 * server holds is remembered per (server, credential), so a submission costs no call while it lasts.
 */
import { signProxyFromCsr } from '../../credentials/index.js'
import { type Fts3Client, httpError } from './client.js'
import { clientAuth, type ProxyCredential } from './credentials.js'
import type { Identities } from './identity.js'
import { ftsTimeMs } from './wire.js'

export interface DelegationOptions {
  /** lifetime asked for a new delegation (cut to the user's proxy) */
  lifetimeMs: number
  /** renew when the server's copy has less than this left */
  renewBelowMs: number
  now?: () => number
  /** where each delegation made is told, at info (user, server, new expiry) */
  log?: { info(obj: object, msg: string): void }
}

const HOUR_MS = 3600_000
/** how long a "no need to delegate" verdict stands before the server is asked again */
const RECHECK_MS = 30 * 60_000

interface Known {
  /** when the server's copy ends (0: none) */
  terminationMs: number
  checkedAt: number
}

export class Delegator {
  private readonly known = new Map<string, Known>()
  private readonly inFlight = new Map<string, Promise<boolean>>()
  private readonly now: () => number
  /** delegations made, per server (for logs and tests) */
  readonly made: { server: string; user: string; dn: string; at: number }[] = []

  constructor(
    private readonly client: Fts3Client,
    private readonly identities: Identities,
    private readonly opts: DelegationOptions,
  ) {
    this.now = opts.now ?? Date.now
  }

  /**
   * Makes sure `server` holds a usable delegation of `cred`; `force` delegates again whatever the server says
   * (after a 419). Resolves true when it delegated.
   */
  ensure(server: string, user: string, cred: ProxyCredential, force = false): Promise<boolean> {
    const key = `${server}\0${cred.key}`
    const running = this.inFlight.get(key)
    if (running) return running
    const known = this.known.get(key)
    const now = this.now()
    if (!force && known && !this.needed(known.terminationMs, cred) && now - known.checkedAt < RECHECK_MS) {
      return Promise.resolve(false)
    }
    const p = this.check(server, user, cred, force).finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, p)
    return p
  }

  /** Forgets what a server holds for a credential (its answers say it is gone). */
  forget(server: string, cred: ProxyCredential): void {
    this.known.delete(`${server}\0${cred.key}`)
  }

  private needed(terminationMs: number, cred: ProxyCredential): boolean {
    if (terminationMs - this.now() <= HOUR_MS) return true
    return terminationMs - this.now() < this.opts.renewBelowMs && cred.notAfter - terminationMs >= HOUR_MS
  }

  private async check(server: string, user: string, cred: ProxyCredential, force: boolean): Promise<boolean> {
    const auth = clientAuth(cred)
    const who = await this.identities.whoami(server, auth)
    const dlg = who.delegation_id
    if (!dlg) throw new Error(`${server} gave no delegation id for ${user} (whoami method ${who.method})`)
    const key = `${server}\0${cred.key}`
    const current = await this.client.expect(server, auth, 'GET', `/delegation/${dlg}`)
    // null, or [] for newer clients, when there is none
    const body = current.json as { termination_time?: string } | null | unknown[]
    const termination = Array.isArray(body) || !body ? 0 : (ftsTimeMs(body.termination_time) ?? 0)
    if (!force && !this.needed(termination, cred)) {
      this.known.set(key, { terminationMs: termination, checkedAt: this.now() })
      return false
    }
    const csr = await this.client.expect(server, auth, 'GET', `/delegation/${dlg}/request`)
    const chain = signProxyFromCsr(
      csr.text,
      {
        certPem: cred.info.chain[0]!.pem,
        keyPem: cred.info.key,
        chainPem: cred.info.chain.slice(1).map((c) => c.pem),
      },
      this.opts.lifetimeMs,
      new Date(this.now()),
    )
    const put = await this.client.call(server, auth, 'PUT', `/delegation/${dlg}/credential`, {
      text: chain,
      contentType: 'application/x-pem-file',
    })
    if (put.status !== 201 && put.status !== 200 && put.status !== 204) {
      throw httpError(put, `PUT ${server}/delegation/${dlg}/credential`)
    }
    const terminationMs = Math.min(this.now() + this.opts.lifetimeMs, cred.notAfter)
    this.known.set(key, { terminationMs, checkedAt: this.now() })
    this.made.push({ server, user, dn: who.user_dn, at: this.now() })
    this.opts.log?.info(
      {
        user,
        server,
        dn: who.user_dn,
        delegationId: dlg,
        expires: new Date(terminationMs).toISOString(),
        previousExpiry: termination > 0 ? new Date(termination).toISOString() : null,
        forced: force,
      },
      'FTS3 delegation made',
    )
    return true
  }
}
