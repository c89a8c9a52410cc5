/**
 * Signature algorithms as X.509 names them. Signatures themselves are made and checked with node:crypto,
 * which needs the hash: RSA PKCS#1 v1.5 and ECDSA are supported, for reading and for signing proxies.
 */
import type { KeyObject } from 'node:crypto'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import { AsoError } from '../domain/errors.js'

const SIGNATURE_HASHES: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
}

/** The hash of an RSA PKCS#1 v1.5 or ECDSA signature algorithm OID, for node:crypto's verify; else undefined. */
export function signatureHashOf(algorithmOid: string): string | undefined {
  return SIGNATURE_HASHES[algorithmOid]
}

export const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11'
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2'

/** What a SHA-256 signature by `key` is called: sha256WithRSAEncryption (parameters NULL) or ecdsa-with-SHA256. */
export function sha256SignatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  if (key.asymmetricKeyType === 'rsa') {
    return new AlgorithmIdentifier({ algorithm: OID_SHA256_WITH_RSA, parameters: null })
  }
  if (key.asymmetricKeyType === 'ec') return new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })
  throw new AsoError(
    'invalid-request',
    `cannot sign a proxy with a ${key.asymmetricKeyType ?? 'unknown'} key: only RSA and EC keys are supported`,
  )
}
