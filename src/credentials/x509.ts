/**
 * X.509 certificates as the grid sees them: slash DNs (`/DC=ch/DC=cern/CN=alice`), RFC 3820 proxy markers,
 * and the few extensions chain verification needs. The structure is read with @peculiar/asn1-x509; keys and
 * signatures stay with node:crypto.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto'
import { AsnIntegerArrayBufferConverter, AsnProp, AsnPropTypes } from '@peculiar/asn1-schema'
import { Extensions, SubjectPublicKeyInfo, Validity, Version } from '@peculiar/asn1-x509'
import { AsoError } from '../domain/errors.js'
import { derElements, parseDer } from './der.js'
import { formatSlashDn, isIssuerPlusOneCn, NameText, type Rdn, rdnsOf, sameName } from './dn.js'
import { type CertExtension, type KeyUsageName, readExtensions } from './extensions.js'
import { errorText } from './messages.js'
import { derToPem, pemBlocks, splitPem } from './pem.js'
import type { ProxyCertInfo } from './proxy-cert-info.js'

export interface Cert {
  pem: string
  der: Buffer
  version: number
  /** lowercase hex, no leading zeros */
  serialHex: string
  subject: string
  issuer: string
  subjectRdns: Rdn[]
  issuerRdns: Rdn[]
  notBefore: Date
  notAfter: Date
  /** basicConstraints cA=TRUE */
  isCa: boolean
  caPathLen?: number
  /** key usage bits; undefined when the certificate has no keyUsage extension */
  keyUsage?: KeyUsageName[]
  proxyCertInfo?: ProxyCertInfo
  /** subject = issuer + one CN: the shape of a proxy, also of legacy (pre-RFC) proxies without proxyCertInfo */
  proxyShaped: boolean
  selfIssued: boolean
  subjectKeyId?: string
  authorityKeyId?: string
  extensions: CertExtension[]
  publicKey: KeyObject
  /** node's view of the same certificate (used to check signatures) */
  x509: X509Certificate
}

/** An INTEGER's content octets as an unsigned number in lowercase hex, no leading zeros (serials). */
export function serialHexOf(content: ArrayBuffer | Uint8Array): string {
  const hex = Buffer.from(content instanceof Uint8Array ? content : new Uint8Array(content)).toString('hex')
  return (hex === '' ? 0n : BigInt(`0x${hex}`)).toString(16)
}

/**
 * A certificate's issuer and subject Names as their original DER bytes, read from the signed part: what a
 * proxy signed by this certificate copies as its issuer (RFC 3820 §3.1), unchanged.
 */
export function nameBytesOf(certDer: Uint8Array): { issuer: Buffer; subject: Buffer } {
  const [tbs] = derElements(certDer)
  if (tbs === undefined) throw new Error('malformed certificate')
  const fields = derElements(tbs)
  const at = fields[0]?.[0] === 0xa0 ? 1 : 0 // [0] version, absent in v1 certificates
  const issuer = fields[at + 2]
  const subject = fields[at + 4]
  if (issuer === undefined || subject === undefined) throw new Error('malformed certificate')
  return { issuer, subject }
}

/**
 * TBSCertificate (RFC 5280 §4.1) as @peculiar/asn1-x509 declares it, but with the Names read by dn.ts (each
 * string type decoded as OpenSSL prints it) and the signature algorithm and key left encoded: node:crypto
 * reads those.
 */
class TbsCertificate {
  version = Version.v1
  serialNumber = new ArrayBuffer(0)
  signature = new ArrayBuffer(0)
  issuer = new NameText()
  validity = new Validity()
  subject = new NameText()
  subjectPublicKeyInfo = new ArrayBuffer(0)
  issuerUniqueID?: ArrayBuffer
  subjectUniqueID?: ArrayBuffer
  extensions?: Extensions
}
const field = (name: keyof TbsCertificate, options: Parameters<typeof AsnProp>[0]) =>
  AsnProp(options)(TbsCertificate.prototype, name)
field('version', { type: AsnPropTypes.Integer, context: 0, defaultValue: Version.v1 })
field('serialNumber', { type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })
field('signature', { type: AsnPropTypes.Any })
field('issuer', { type: NameText })
field('validity', { type: Validity })
field('subject', { type: NameText })
field('subjectPublicKeyInfo', { type: AsnPropTypes.Any })
field('issuerUniqueID', { type: AsnPropTypes.BitString, context: 1, implicit: true, optional: true })
field('subjectUniqueID', { type: AsnPropTypes.BitString, context: 2, implicit: true, optional: true })
field('extensions', { type: Extensions, context: 3, optional: true })

function parseCertDer(der: Buffer): Cert {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }: node:crypto (OpenSSL)
  // reads the whole of it and checks signatures; the fields ASO needs are in the signed part.
  const [tbsDer] = derElements(der)
  if (tbsDer === undefined) throw new Error('malformed certificate')
  const tbs = parseDer(tbsDer, TbsCertificate)
  const issuerRdns = rdnsOf(tbs.issuer)
  const subjectRdns = rdnsOf(tbs.subject)
  const extensions: CertExtension[] = Array.from(tbs.extensions ?? [], (ext) => ({
    oid: ext.extnID,
    critical: ext.critical,
    value: Buffer.from(ext.extnValue.buffer),
  }))
  const facts = readExtensions(extensions)
  const x509 = new X509Certificate(der)
  return {
    pem: derToPem(der),
    der,
    version: tbs.version + 1,
    serialHex: serialHexOf(tbs.serialNumber),
    subject: formatSlashDn(subjectRdns),
    issuer: formatSlashDn(issuerRdns),
    subjectRdns,
    issuerRdns,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    proxyShaped: isIssuerPlusOneCn(subjectRdns, issuerRdns),
    selfIssued: sameName(subjectRdns, issuerRdns),
    ...facts,
    extensions,
    publicKey: x509.publicKey,
    x509,
  }
}

/**
 * Parses one certificate: a PEM text (its first CERTIFICATE block) or DER bytes.
 * Throws an AsoError ('invalid-request') naming `source` when it is not a certificate.
 */
export function parseCert(input: string | Buffer, source = 'certificate'): Cert {
  let der: Buffer
  if (typeof input === 'string' || input.subarray(0, 11).toString('latin1') === '-----BEGIN ') {
    const text = typeof input === 'string' ? input : input.toString('utf8')
    const block = pemBlocks(text).find((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE')
    if (block === undefined) throw new AsoError('invalid-request', `${source}: no PEM certificate found`)
    der = block.der
  } else {
    der = input
  }
  try {
    return parseCertDer(der)
  } catch (err) {
    throw new AsoError('invalid-request', `${source}: not a valid X.509 certificate (${errorText(err)})`, {
      cause: err,
    })
  }
}

/** Every certificate of a PEM bundle, in order (private keys and other blocks are skipped). */
export function parseCertBundle(text: string, source = 'certificate bundle'): Cert[] {
  return splitPem(text).certificates.map((pem, i) => parseCert(pem, `${source} (certificate ${i + 1})`))
}

/**
 * Index of the end-entity certificate (the first that is not a proxy) in a leaf-first chain, or -1.
 * A certificate is a proxy when it carries proxyCertInfo, or (legacy Globus proxies) when its subject is its
 * issuer plus one CN and that issuer, the next certificate, is not a CA.
 */
export function endEntityIndex(chain: readonly Cert[]): number {
  return chain.findIndex((cert, i) => !isProxyAt(chain, i, cert))
}

function isProxyAt(chain: readonly Cert[], i: number, cert: Cert): boolean {
  if (cert.proxyCertInfo !== undefined) return true
  if (!cert.proxyShaped || cert.isCa) return false
  const next = chain[i + 1]
  return next !== undefined && !next.isCa && sameName(next.subjectRdns, cert.issuerRdns)
}

/** Key identifier as OpenSSL derives it (RFC 5280 method 1): SHA-1 of the subjectPublicKey bits. */
export function keyIdentifierOf(publicKey: KeyObject): Buffer {
  const spki = parseDer(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo)
  return createHash('sha1').update(Buffer.from(spki.subjectPublicKey)).digest()
}
