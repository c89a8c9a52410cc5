/**
 * The service's Rucio token: userpass login (GET /auth/userpass), kept until `renewMarginMs` before the
 * expiry Rucio announces in X-Rucio-Auth-Token-Expires, renewed early when a call finds it refused (a server
 * restart with a new database, a revoked token). Concurrent callers share one login.
 */
import { CatalogError } from '../catalog.js'
import { refusalError } from './errors.js'
import type { RucioHttp } from './http.js'

export interface UserpassCredentials {
  account: string
  username: string
  password: string
}

/** Rucio's tokens live one hour; a token it announces without a readable expiry is kept this long. */
const FALLBACK_LIFETIME_MS = 30 * 60_000

export class RucioTokens {
  private current: { token: string; renewAt: number } | undefined
  private pending: Promise<string> | undefined

  constructor(
    private readonly http: RucioHttp,
    private readonly creds: UserpassCredentials,
    private readonly renewMarginMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** A token valid for a while yet. */
  token(signal?: AbortSignal): Promise<string> {
    if (this.current && this.now() < this.current.renewAt) return Promise.resolve(this.current.token)
    this.pending ??= this.login(signal).finally(() => {
      this.pending = undefined
    })
    return this.pending
  }

  /** Forgets `token` after Rucio refused it, so the next `token()` logs in again. */
  refused(token: string): void {
    if (this.current?.token === token) this.current = undefined
  }

  private async login(signal?: AbortSignal): Promise<string> {
    const what = `GET ${this.http.baseUrl}/auth/userpass`
    const answer = await this.http.send(
      {
        method: 'GET',
        path: '/auth/userpass',
        headers: {
          'x-rucio-account': this.creds.account,
          'x-rucio-username': this.creds.username,
          'x-rucio-password': this.creds.password,
        },
      },
      signal,
    )
    if (answer.status !== 200) {
      throw refusalError(answer, what, {
        rse: '',
        scope: '',
        ruleAccount: '',
        serviceAccount: this.creds.account,
      })
    }
    const token = answer.headers['x-rucio-auth-token']
    if (!token) {
      throw new CatalogError(
        'catalog-transient',
        `${what} answered 200 without an X-Rucio-Auth-Token header; retried later`,
        200,
      )
    }
    const expires = Date.parse(answer.headers['x-rucio-auth-token-expires'] ?? '')
    const expiresAt = Number.isNaN(expires) ? this.now() + FALLBACK_LIFETIME_MS : expires
    this.current = { token, renewAt: expiresAt - this.renewMarginMs }
    return token
  }
}
