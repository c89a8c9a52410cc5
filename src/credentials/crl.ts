/**
 * X.509 CRLs as fetch-crl leaves them in the CA directory (`<hash>.r0`, PEM): who issued it, when the next
 * one is due, which serials are revoked, and whether the CA's key signed it. node-forge reads no CRLs, so the
 * CertificateList is read with its DER parser; the signature is checked with node:crypto.
 */
import { verify } from 'node:crypto'
import forge from 'node-forge'
import {
  bytesOf,
  type Cert,
  childrenOf,
  derChildren,
  integerOf,
  isContext,
  isUniversal,
  oidOf,
  parseDer,
  parseName,
  parseTime,
  pemBlocks,
  type Rdn,
  signatureHashOf,
} from './pem.js'

const asn1 = forge.asn1

export interface Crl {
  issuerRdns: Rdn[]
  thisUpdate: Date
  /** when the next CRL is due; a CRL past it is out of date */
  nextUpdate?: Date
  /** revoked serial (lowercase hex, no leading zeros, as Cert.serialHex) → revocation date */
  revoked: Map<string, Date>
  tbsDer: Buffer
  signatureAlgorithm: string
  signature: Buffer
}

/** Parses a PEM (`X509 CRL`) or DER CRL. Throws an Error saying what is wrong. */
export function parseCrl(input: string | Buffer): Crl {
  let der: Buffer
  const text = typeof input === 'string' ? input : input.toString('latin1')
  if (text.includes('-----BEGIN ')) {
    const block = pemBlocks(text).find((b) => b.label === 'X509 CRL')
    if (block === undefined) throw new Error('no PEM "X509 CRL" block')
    der = block.der
  } else {
    der = typeof input === 'string' ? Buffer.from(input, 'latin1') : input
  }
  const [tbsDer] = derChildren(der)
  const [tbs, algorithm, signatureBits] = childrenOf(parseDer(der), 'CertificateList')
  const fields = childrenOf(tbs, 'TBSCertList')
  let i = isUniversal(fields[0], asn1.Type.INTEGER) ? 1 : 0 // optional version
  i++ // signature algorithm (repeated outside)
  const issuerRdns = parseName(fields[i++])
  const thisUpdate = parseTime(fields[i++])
  let nextUpdate: Date | undefined
  const next = fields[i]
  if (isUniversal(next, asn1.Type.UTCTIME) || isUniversal(next, asn1.Type.GENERALIZEDTIME)) {
    nextUpdate = parseTime(next)
    i++
  }
  const revoked = new Map<string, Date>()
  const list = fields[i]
  if (list !== undefined && !isContext(list, 0)) {
    for (const entry of childrenOf(list, 'revokedCertificates')) {
      const [serial, date] = childrenOf(entry, 'revoked certificate')
      revoked.set(integerOf(serial).toString(16), parseTime(date))
    }
  }
  if (tbsDer === undefined) throw new Error('malformed CRL')
  return {
    issuerRdns,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    revoked,
    tbsDer,
    signatureAlgorithm: oidOf(childrenOf(algorithm, 'signature algorithm')[0]),
    signature: bytesOf(signatureBits, 'CRL signature').subarray(1),
  }
}

/** Whether `ca`'s key made the CRL's signature (RSA PKCS#1 v1.5 or ECDSA). */
export function crlSignedBy(crl: Crl, ca: Cert): boolean {
  const hash = signatureHashOf(crl.signatureAlgorithm)
  if (hash === undefined) return false
  try {
    return verify(hash, crl.tbsDer, ca.publicKey, crl.signature)
  } catch (err) {
    // a key of another type cannot have made this signature
    void err
    return false
  }
}
