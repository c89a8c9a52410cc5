/**
 * What a certificate's extensions tell chain verification: whether it is a CA (basicConstraints), what its
 * key may do (keyUsage), its key identifiers, and whether it is a proxy (proxyCertInfo). Each value is read
 * with its @peculiar/asn1-x509 schema.
 */
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509'
import { parseDer } from './der.js'
import { isProxyCertInfoOid, type ProxyCertInfo, parseProxyCertInfo } from './proxy-cert-info.js'

export interface CertExtension {
  oid: string
  critical: boolean
  /** the DER inside the extension's OCTET STRING */
  value: Buffer
}

export type KeyUsageName =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign'
  | 'encipherOnly'
  | 'decipherOnly'

/** keyUsage bit i (bit 0 = the first byte's high bit) names this usage. */
const KEY_USAGE_BITS: KeyUsageName[] = [
  'digitalSignature',
  'nonRepudiation',
  'keyEncipherment',
  'dataEncipherment',
  'keyAgreement',
  'keyCertSign',
  'cRLSign',
  'encipherOnly',
  'decipherOnly',
]

export interface ExtensionFacts {
  /** basicConstraints cA=TRUE */
  isCa: boolean
  caPathLen?: number
  /** key usage bits; undefined when the certificate has no keyUsage extension */
  keyUsage?: KeyUsageName[]
  proxyCertInfo?: ProxyCertInfo
  subjectKeyId?: string
  authorityKeyId?: string
}

function keyUsageOf(value: Buffer): KeyUsageName[] {
  const bits = Buffer.from(parseDer(value, KeyUsage).value)
  return KEY_USAGE_BITS.filter((_, bit) => {
    const byte = bits[bit >> 3]
    return byte !== undefined && (byte & (0x80 >> (bit & 7))) !== 0
  })
}

/** Reads the extensions chain verification needs; a malformed one throws (the certificate is unusable). */
export function readExtensions(extensions: readonly CertExtension[]): ExtensionFacts {
  const facts: ExtensionFacts = { isCa: false }
  for (const { oid, value } of extensions) {
    if (oid === id_ce_basicConstraints) {
      const constraints = parseDer(value, BasicConstraints)
      facts.isCa = constraints.cA
      if (constraints.pathLenConstraint !== undefined) facts.caPathLen = Number(constraints.pathLenConstraint)
    } else if (oid === id_ce_keyUsage) {
      facts.keyUsage = keyUsageOf(value)
    } else if (isProxyCertInfoOid(oid)) {
      facts.proxyCertInfo = parseProxyCertInfo(oid, value)
    } else if (oid === id_ce_subjectKeyIdentifier) {
      facts.subjectKeyId = Buffer.from(parseDer(value, SubjectKeyIdentifier).buffer).toString('hex')
    } else if (oid === id_ce_authorityKeyIdentifier) {
      const keyId = parseDer(value, AuthorityKeyIdentifier).keyIdentifier
      if (keyId !== undefined) facts.authorityKeyId = Buffer.from(keyId.buffer).toString('hex')
    }
  }
  return facts
}
