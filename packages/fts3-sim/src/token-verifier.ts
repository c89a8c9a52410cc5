/**
 * Bearer-token authentication (docs/fts3-rest.md §4 "Tokens"): offline validation against each known
 * issuer's JWKS, the audience check, and the optional FTS scope. Like the server, a token it cannot
 * validate leaves the caller anonymous; only a valid token that fails the scope check is refused.
 */
import { readFile } from 'node:fs/promises'
import { createLocalJWKSet, decodeJwt, type JWTVerifyGetKey, jwtVerify } from 'jose'
import { type Caller, tokenCaller } from './caller.js'
import { FtsHttpError } from './http-errors.js'

export interface TokenIssuer {
  issuer: string
  /** a JSON Web Key Set file (`{"keys":[...]}`) */
  jwksFile: string
}

export interface TokenOptions {
  issuers: TokenIssuer[]
  /** accepted audiences (`AuthorizedAudiences`); default `https://wlcg.cern.ch/jwt/v1/any` */
  audience?: string | string[]
  /** the provider's `OauthScopeFts`: a scope every token must carry */
  scope?: string
}

const WLCG_ANY_AUDIENCE = 'https://wlcg.cern.ch/jwt/v1/any'

export interface TokenVerifier {
  /** The caller a bearer token stands for, or null when it does not validate (the caller stays anonymous). */
  callerOf(token: string): Promise<Caller | null>
}

const withSlash = (issuer: string): string => (issuer.endsWith('/') ? issuer : `${issuer}/`)

export async function loadTokenVerifier(opts: TokenOptions): Promise<TokenVerifier> {
  const keys = new Map<string, { issuer: string; jwks: JWTVerifyGetKey }>()
  for (const { issuer, jwksFile } of opts.issuers) {
    const jwks = createLocalJWKSet(JSON.parse(await readFile(jwksFile, 'utf8')))
    // the server compares issuers with a trailing slash added
    keys.set(withSlash(issuer), { issuer, jwks })
  }
  const audience = opts.audience ?? WLCG_ANY_AUDIENCE
  return {
    async callerOf(token) {
      let iss: string | undefined
      try {
        iss = decodeJwt(token).iss
      } catch (err) {
        // not a JWT: no issuer to ask, so the request is anonymous
        void err
        return null
      }
      const known = iss === undefined ? undefined : keys.get(withSlash(iss))
      if (!known) return null
      let payload: Record<string, unknown>
      try {
        ;({ payload } = await jwtVerify(token, known.jwks, {
          issuer: [known.issuer, withSlash(known.issuer), known.issuer.replace(/\/$/, '')],
          audience,
          requiredClaims: ['exp', 'sub'],
        }))
      } catch (err) {
        // signature, audience or lifetime refused before the issuer is set: anonymous, as on the server
        void err
        return null
      }
      const scope = typeof payload.scope === 'string' ? payload.scope.split(' ').sort() : undefined
      if (opts.scope && !scope?.includes(opts.scope)) {
        throw new FtsHttpError(403, `Invalid credentials (Invalid scope: '${opts.scope}' scope required)`, {
          html: true,
        })
      }
      const subject = String(payload.sub)
      if (subject === '') {
        throw new FtsHttpError(401, 'A valid X509 certificate or proxy is needed', { html: true })
      }
      const groups = payload['wlcg.groups']
      return tokenCaller({
        issuer: String(payload.iss),
        subject,
        groups: Array.isArray(groups) ? groups.map(String) : undefined,
        scope,
        token,
      })
    },
  }
}
