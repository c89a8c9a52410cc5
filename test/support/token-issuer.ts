/**
 * A bearer-token issuer for tests: an ES256 key pair whose public half is written as a JWKS file (what
 * `api.tokens.issuers[].jwks` reads), and a signer of tokens from it valid for an hour.
 */
import { writeFile } from 'node:fs/promises'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

export interface TestTokenIssuer {
  /** the JWKS file */
  jwks: string
  sign(claims: Record<string, unknown>): Promise<string>
}

/** Writes the JWKS of a new key to `jwks` and returns the issuer `iss` that signs with it. */
export async function makeTokenIssuer(jwks: string, iss: string): Promise<TestTokenIssuer> {
  const pair = await generateKeyPair('ES256')
  await writeFile(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1' }] }))
  return {
    jwks,
    sign: (claims) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(iss)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(pair.privateKey),
  }
}
