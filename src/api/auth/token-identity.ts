/**
 * Bearer tokens (JWT): verified against each configured issuer's JWKS (a file, or an https URL fetched and
 * cached by jose), with the audience when one is configured; the username is a configured claim.
 */
import { readFile } from 'node:fs/promises'
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeJwt,
  errors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose'
import type { ApiConfig, AsoConfig } from '../../config/schema.js'
import { AsoError } from '../../domain/errors.js'
import { groupsOfClaim } from './group-paths.js'
import { type Caller, identityOf, USERNAME } from './users.js'

type IssuerConfig = ApiConfig['tokens']['issuers'][number]

interface Issuer {
  config: IssuerConfig
  keys: JWTVerifyGetKey
}

const withoutSlash = (s: string) => s.replace(/\/+$/, '')

export class TokenIdentity {
  private constructor(
    private readonly config: AsoConfig,
    private readonly issuers: Map<string, Issuer>,
  ) {}

  static async create(config: AsoConfig): Promise<TokenIdentity> {
    const issuers = new Map<string, Issuer>()
    for (const c of config.api.tokens.issuers) {
      let keys: JWTVerifyGetKey
      if (/^https?:\/\//.test(c.jwks)) keys = createRemoteJWKSet(new URL(c.jwks))
      else {
        let text: string
        try {
          text = await readFile(c.jwks, 'utf8')
        } catch (e) {
          throw new AsoError(
            'invalid-config',
            `api.tokens.issuers: cannot read the JWKS file ${c.jwks} of ${c.issuer}: ${(e as Error).message}`,
          )
        }
        try {
          keys = createLocalJWKSet(JSON.parse(text))
        } catch (e) {
          throw new AsoError(
            'invalid-config',
            `api.tokens.issuers: ${c.jwks} is not a JSON Web Key Set ({"keys": [...]}): ${(e as Error).message}`,
          )
        }
      }
      issuers.set(withoutSlash(c.issuer), { config: c, keys })
    }
    return new TokenIdentity(config, issuers)
  }

  get enabled(): boolean {
    return this.issuers.size > 0
  }

  /**
   * The caller a bearer token stands for; every refusal says why. `debug` hears each token group that
   * gives no ASO group (a subgroup not in api.tokens.groupMap, a bare name).
   */
  async callerOf(token: string, debug: (msg: string) => void = () => {}): Promise<Caller> {
    if (!this.enabled) {
      throw new AsoError(
        'unauthenticated',
        'this ASO accepts no bearer tokens (no api.tokens.issuers configured): use a grid certificate or proxy',
      )
    }
    let iss: string | undefined
    try {
      iss = decodeJwt(token).iss
    } catch (e) {
      throw new AsoError('unauthenticated', `the bearer token is not a JWT: ${(e as Error).message}`)
    }
    const issuer = iss === undefined ? undefined : this.issuers.get(withoutSlash(iss))
    if (!issuer) {
      throw new AsoError(
        'unauthenticated',
        `the token's issuer ${iss ?? '(none)'} is not trusted here (trusted: ${[...this.issuers.values()].map((i) => i.config.issuer).join(', ')})`,
      )
    }
    const c = issuer.config
    let payload: JWTPayload
    try {
      ;({ payload } = await jwtVerify(token, issuer.keys, {
        issuer: [c.issuer, withoutSlash(c.issuer), `${withoutSlash(c.issuer)}/`],
        ...(c.audience === undefined ? {} : { audience: c.audience }),
        requiredClaims: ['exp'],
      }))
    } catch (e) {
      if (e instanceof errors.JWTExpired) {
        throw new AsoError('unauthenticated', `the bearer token expired: get a new one from ${c.issuer}`)
      }
      if (e instanceof errors.JOSEError) {
        throw new AsoError('unauthenticated', `the bearer token was refused: ${e.message}`)
      }
      throw new AsoError(
        'unavailable',
        `cannot check the bearer token: the keys of ${c.issuer} are unavailable (${(e as Error).message}); try again later`,
      )
    }
    const name = payload[c.usernameClaim]
    if (typeof name !== 'string' || !USERNAME.test(name)) {
      throw new AsoError(
        'unauthenticated',
        `the bearer token has no "${c.usernameClaim}" claim holding an ASO username (1-64 of A-Z a-z 0-9 . _ -)`,
      )
    }
    const groups =
      c.groupsClaim === undefined
        ? undefined
        : groupsOfClaim(payload[c.groupsClaim], this.config.api.tokens.groupMap, (why) =>
            debug(`token of ${name} from ${c.issuer}: ${c.groupsClaim} ${why}`),
          )
    return { identity: identityOf(this.config, name, groups ?? undefined), method: 'token' }
  }
}
