/**
 * Where a user's credential for FTS comes from (ARCHITECTURE.md §2 `credentials/`): a bearer token file when
 * `tokenPath` names one that exists, else the user's X.509 proxy file (`proxyPath`, e.g.
 * `/var/lib/aso/proxies/{user}.pem`). Files are re-read only when they change. A credential that is missing,
 * unreadable, expired, or too short-lived to submit with is a problem, worded for the user.
 */
import { readFile, stat } from 'node:fs/promises'
import { decodeJwt } from 'jose'
import { credentialPath, type ProxyInfo, readProxyFile } from '../../credentials/index.js'
import { formatDuration } from '../../domain/duration.js'
import type { ClientAuth } from './client.js'

export interface ProxyCredential {
  kind: 'proxy'
  /** changes whenever the file does: keys connections and caches */
  key: string
  path: string
  info: ProxyInfo
  /** the proxy certificate then its chain, PEM (what TLS presents) */
  chainPem: string
  notAfter: number
  /** when the file last changed (mtime or ctime), epoch ms */
  changedAt: number
}

export interface TokenCredential {
  kind: 'token'
  key: string
  path: string
  token: string
  /** the JWT's `exp`; null for tokens that are not JWTs (macaroons) */
  expiresAt: number | null
  changedAt: number
}

export type UserCredential = ProxyCredential | TokenCredential

export type CredentialLookup =
  | { ok: true; credential: UserCredential }
  | { ok: false; problem: string; changedAt: number | null }

/** What a credential is needed for: submitting needs `minProxyLifetime` left, reading only a valid one. */
export type CredentialUse = 'submit' | 'read'

export interface CredentialSourceOptions {
  /** path pattern; `{user}` is replaced by the user name */
  proxyPath: string
  tokenPath?: string
  minProxyLifetimeMs: number
  now?: () => number
}

const ADVICE = 'make a new one with voms-proxy-init and put it there'
/** a token used for submission must last at least this (FTS keeps using it while it refreshes its own) */
const MIN_TOKEN_LIFETIME_MS = 5 * 60_000

async function changeTime(path: string): Promise<{ changedAt: number; key: string } | null> {
  try {
    const s = await stat(path)
    return { changedAt: Math.max(s.mtimeMs, s.ctimeMs), key: `${path}\0${s.ino}\0${s.mtimeMs}\0${s.size}` }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

export class CredentialSource {
  private readonly cache = new Map<string, UserCredential>()
  private readonly now: () => number

  constructor(private readonly opts: CredentialSourceOptions) {
    this.now = opts.now ?? Date.now
  }

  /** The user's credential, or why there is none usable for `use`. */
  async forUser(user: string, use: CredentialUse = 'submit'): Promise<CredentialLookup> {
    if (this.opts.tokenPath) {
      const path = credentialPath(this.opts.tokenPath, user)
      const seen = path ? await changeTime(path).catch(() => null) : null
      if (path && seen) return this.token(path, seen, use)
    }
    const path = credentialPath(this.opts.proxyPath, user)
    if (!path) return { ok: false, problem: `user name "${user}" cannot name a proxy file`, changedAt: null }
    let seen: { changedAt: number; key: string } | null
    try {
      seen = await changeTime(path)
    } catch (err) {
      return {
        ok: false,
        problem: `cannot read the X.509 proxy ${path} of ${user}: ${(err as Error).message}`,
        changedAt: null,
      }
    }
    if (!seen) {
      const token = this.opts.tokenPath
        ? ` (nor a token at ${this.opts.tokenPath.replaceAll('{user}', user)})`
        : ''
      return {
        ok: false,
        problem: `no X.509 proxy of ${user} at ${path}${token}: ${ADVICE}`,
        changedAt: null,
      }
    }
    let cred = this.cache.get(path)
    if (cred?.key !== seen.key) {
      try {
        const info = await readProxyFile(path, { allowExpired: true })
        cred = {
          kind: 'proxy',
          key: seen.key,
          path,
          info,
          chainPem: info.chain.map((c) => c.pem).join(''),
          notAfter: info.notAfter.getTime(),
          changedAt: seen.changedAt,
        }
        this.cache.set(path, cred)
      } catch (err) {
        return { ok: false, problem: (err as Error).message, changedAt: seen.changedAt }
      }
    }
    if (cred.kind !== 'proxy') return { ok: true, credential: cred }
    const left = cred.notAfter - this.now()
    const who = `the X.509 proxy ${path} of ${user} (${cred.info.identityDn})`
    if (left <= 0) {
      const ago = formatDuration(-left)
      return { ok: false, problem: `${who} expired ${ago} ago: ${ADVICE}`, changedAt: cred.changedAt }
    }
    if (use === 'submit' && left < this.opts.minProxyLifetimeMs) {
      return {
        ok: false,
        problem: `${who} expires in ${formatDuration(left)}, less than the ${formatDuration(this.opts.minProxyLifetimeMs)} ASO needs to submit: ${ADVICE}`,
        changedAt: cred.changedAt,
      }
    }
    return { ok: true, credential: cred }
  }

  private async token(
    path: string,
    seen: { changedAt: number; key: string },
    use: CredentialUse,
  ): Promise<CredentialLookup> {
    let cred = this.cache.get(path)
    if (cred?.key !== seen.key) {
      let token: string
      try {
        token = (await readFile(path, 'utf8')).trim()
      } catch (err) {
        return {
          ok: false,
          problem: `cannot read the token ${path}: ${(err as Error).message}`,
          changedAt: seen.changedAt,
        }
      }
      let expiresAt: number | null = null
      try {
        const exp = decodeJwt(token).exp
        expiresAt = typeof exp === 'number' ? exp * 1000 : null
      } catch (err) {
        // not a JWT (a macaroon, say): its lifetime is not ours to read
        void err
      }
      cred = { kind: 'token', key: seen.key, path, token, expiresAt, changedAt: seen.changedAt }
      this.cache.set(path, cred)
    }
    if (cred.kind !== 'token' || cred.token === '') {
      return {
        ok: false,
        problem: `the token file ${path} is empty: write a new token there`,
        changedAt: seen.changedAt,
      }
    }
    const left = cred.expiresAt === null ? Number.POSITIVE_INFINITY : cred.expiresAt - this.now()
    if (left <= 0 || (use === 'submit' && left < MIN_TOKEN_LIFETIME_MS)) {
      return {
        ok: false,
        problem: `the token ${path} ${left <= 0 ? 'expired' : `expires in ${formatDuration(left)}`}: write a new token there`,
        changedAt: cred.changedAt,
      }
    }
    return { ok: true, credential: cred }
  }
}

/** How a credential authenticates HTTP calls. */
export function clientAuth(cred: UserCredential): ClientAuth {
  return cred.kind === 'proxy'
    ? { kind: 'certificate', key: cred.key, certPem: cred.chainPem, keyPem: cred.info.key }
    : { kind: 'token', key: cred.key, token: cred.token }
}
