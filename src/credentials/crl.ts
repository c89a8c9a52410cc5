/**
 * X.509 CRLs as fetch-crl leaves them in the CA directory (`<hash>.r0`, PEM): who issued it, when the next
 * one is due, which serials are revoked, and whether the CA's key signed it. A CRL can list tens of
 * thousands of serials, and a schema-mapped tree of that many entries takes seconds to build, so the
 * CertificateList is taken apart element by element (der.ts) and each piece read with its
 * @peculiar/asn1-x509 schema or asn1js type. The signature is checked with node:crypto over the signed
 * part's original bytes.
 */
import { verify } from 'node:crypto'
import { BitString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import { type AsnType, UTCTime } from 'asn1js'
import { derContent, derElements, parseDer, readDer } from './der.js'
import { parseName, type Rdn } from './dn.js'
import { pemBlocks } from './pem.js'
import { signatureHashOf } from './signature-algorithms.js'
import { type Cert, serialHexOf } from './x509.js'

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

const TAG_INTEGER = 0x02
const TAG_UTC_TIME = 0x17
const TAG_GENERALIZED_TIME = 0x18
const TAG_CRL_EXTENSIONS = 0xa0

/** An X.509 Time (UTCTime or GeneralizedTime; asn1js's GeneralizedTime is a kind of UTCTime). */
function timeOf(value: Buffer | AsnType | undefined): Date {
  const block = Buffer.isBuffer(value) ? readDer(value) : value
  if (!(block instanceof UTCTime)) throw new Error('malformed validity time')
  return block.toDate()
}

/**
 * revokedCertificates: SEQUENCE OF SEQUENCE { userCertificate INTEGER, revocationDate Time, extensions OPTIONAL }.
 * Entries are split by der.ts and only their serial and date decoded: a schema-mapped entry costs ~60 µs, too
 * much times 50,000.
 */
function revokedSerials(list: Buffer): Map<string, Date> {
  const revoked = new Map<string, Date>()
  for (const entry of derElements(list)) {
    const [serial, date] = derElements(entry)
    if (serial === undefined) throw new Error('malformed revoked certificate')
    revoked.set(serialHexOf(derContent(serial, TAG_INTEGER, 'revoked serial')), timeOf(date))
  }
  return revoked
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
  // CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
  const [tbsDer, algorithmDer, signatureDer] = derElements(der)
  if (tbsDer === undefined || algorithmDer === undefined || signatureDer === undefined) {
    throw new Error('malformed CRL')
  }
  // TBSCertList ::= SEQUENCE { version INTEGER OPTIONAL, signature, issuer, thisUpdate, nextUpdate OPTIONAL,
  //   revokedCertificates OPTIONAL, crlExtensions [0] OPTIONAL }
  const fields = derElements(tbsDer)
  let i = fields[0]?.[0] === TAG_INTEGER ? 1 : 0
  i++ // the signature algorithm, repeated outside
  const issuer = fields[i++]
  if (issuer === undefined) throw new Error('malformed CRL')
  const thisUpdate = timeOf(fields[i++])
  let nextUpdate: Date | undefined
  const next = fields[i]
  if (next?.[0] === TAG_UTC_TIME || next?.[0] === TAG_GENERALIZED_TIME) {
    nextUpdate = timeOf(next)
    i++
  }
  const list = fields[i]
  const revoked =
    list !== undefined && list[0] !== TAG_CRL_EXTENSIONS ? revokedSerials(list) : new Map<string, Date>()
  return {
    issuerRdns: parseName(issuer),
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    revoked,
    tbsDer,
    signatureAlgorithm: parseDer(algorithmDer, AlgorithmIdentifier).algorithm,
    signature: Buffer.from(parseDer(signatureDer, BitString).value),
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
