/**
 * PEM bundles and X.509 certificates as the grid sees them: slash DNs (`/DC=ch/DC=cern/CN=alice`), RFC 3820
 * proxy markers, and the few extensions chain verification needs. ASN.1 is read with node-forge's DER
 * parser (forge's certificate object only knows RSA keys, so it is not used); keys and signatures stay with
 * node:crypto.
 */
import { createHash, type KeyObject, X509Certificate } from 'node:crypto'
import forge from 'node-forge'
import { AsoError } from '../domain/errors.js'

const asn1 = forge.asn1
export type Asn1Node = forge.asn1.Asn1

// ---------------------------------------------------------------------------------------------------------
// DER helpers (shared by the other credentials modules; not part of the package's public API)

interface FromDerOptions {
  strict?: boolean
  parseAllBytes?: boolean
  decodeBitStrings?: boolean
}
// @types/node-forge only declares the old `strict?: boolean` second argument; forge 1.x takes options.
const fromDerWithOptions = asn1.fromDer as unknown as (bytes: string, options: FromDerOptions) => Asn1Node

/** Parses DER strictly. BIT STRINGs keep their raw content (first byte = unused bits). */
export function parseDer(der: Buffer): Asn1Node {
  return fromDerWithOptions(der.toString('binary'), {
    strict: true,
    parseAllBytes: true,
    decodeBitStrings: false,
  })
}

export function encodeDer(node: Asn1Node): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary')
}

export function childrenOf(node: Asn1Node | undefined, what = 'ASN.1 structure'): Asn1Node[] {
  if (node === undefined || !Array.isArray(node.value)) throw new Error(`malformed ${what}`)
  return node.value
}

export function bytesOf(node: Asn1Node | undefined, what = 'ASN.1 value'): Buffer {
  if (node === undefined || typeof node.value !== 'string') throw new Error(`malformed ${what}`)
  return Buffer.from(node.value, 'binary')
}

export function oidOf(node: Asn1Node | undefined): string {
  if (node === undefined || node.tagClass !== asn1.Class.UNIVERSAL || node.type !== asn1.Type.OID) {
    throw new Error('expected an OBJECT IDENTIFIER')
  }
  return asn1.derToOid(node.value as string)
}

export function isUniversal(node: Asn1Node | undefined, type: forge.asn1.Type): node is Asn1Node {
  return node !== undefined && node.tagClass === asn1.Class.UNIVERSAL && node.type === type
}

export function isContext(node: Asn1Node | undefined, tag: number): node is Asn1Node {
  return node !== undefined && node.tagClass === asn1.Class.CONTEXT_SPECIFIC && node.type === tag
}

/** Unsigned big-endian INTEGER content → bigint (negative numbers are not expected in certificates). */
export function integerOf(node: Asn1Node | undefined): bigint {
  if (!isUniversal(node, asn1.Type.INTEGER)) throw new Error('expected an INTEGER')
  const bytes = bytesOf(node)
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`)
}

/**
 * The raw TLVs inside a constructed DER element, byte for byte (no re-encoding). Used where a signature
 * covers the original bytes (a CSR's info, a certificate's TBS part, a Name copied into a new certificate).
 */
export function derChildren(der: Buffer): Buffer[] {
  const outer = readTlv(der, 0)
  if ((der[0]! & 0x20) === 0) throw new Error('expected a constructed DER element')
  const parts: Buffer[] = []
  let pos = outer.contentStart
  while (pos < outer.end) {
    const tlv = readTlv(der, pos)
    parts.push(der.subarray(pos, tlv.end))
    pos = tlv.end
  }
  if (pos !== outer.end) throw new Error('malformed DER length')
  return parts
}

function readTlv(buf: Buffer, start: number): { contentStart: number; end: number } {
  let pos = start + 1
  if (((buf[start] ?? 0) & 0x1f) === 0x1f) throw new Error('high-tag-number DER tags are not supported')
  const first = buf[pos++]
  if (first === undefined) throw new Error('truncated DER')
  let length = first
  if (first & 0x80) {
    const count = first & 0x7f
    if (count === 0 || count > 4) throw new Error('unsupported DER length')
    length = 0
    for (let i = 0; i < count; i++) {
      const b = buf[pos++]
      if (b === undefined) throw new Error('truncated DER')
      length = length * 256 + b
    }
  }
  const end = pos + length
  if (end > buf.length) throw new Error('truncated DER')
  return { contentStart: pos, end }
}

// ---------------------------------------------------------------------------------------------------------
// PEM

export interface PemBlock {
  /** the label between BEGIN and END, e.g. `CERTIFICATE`, `RSA PRIVATE KEY` */
  label: string
  /** the block as text, normalised (BEGIN line, base64 body, END line, trailing newline) */
  pem: string
  der: Buffer
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g

/** Every PEM block of a text, in order. Encapsulated headers (`Proc-Type: ...`) are kept in `pem`. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    const label = match[1]!
    const body = match[2]!
    const hasHeaders = /^[A-Za-z-]+:/m.test(body)
    const base64 = hasHeaders ? body.slice(body.search(/\r?\n\r?\n/) + 1) : body
    const der = Buffer.from(base64.replace(/\s+/g, ''), 'base64')
    blocks.push({ label, pem: hasHeaders ? `${match[0]}\n` : derToPem(der, label), der })
  }
  return blocks
}

export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

export interface SplitPem {
  /** certificate blocks in file order (for a grid proxy file: the proxy first, then its chain) */
  certificates: string[]
  /** private key blocks (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`) */
  privateKeys: string[]
}

/** Splits a PEM bundle such as a grid proxy file (proxy cert, proxy key, chain) into certificates and keys. */
export function splitPem(text: string): SplitPem {
  const certificates: string[] = []
  const privateKeys: string[] = []
  for (const block of pemBlocks(text)) {
    if (block.label === 'CERTIFICATE' || block.label === 'X509 CERTIFICATE') certificates.push(block.pem)
    else if (block.label.endsWith('PRIVATE KEY')) privateKeys.push(block.pem)
  }
  return { certificates, privateKeys }
}

// ---------------------------------------------------------------------------------------------------------
// Distinguished names

export interface DnAttribute {
  oid: string
  /** OpenSSL's short name (`CN`, `DC`, `OU`, `emailAddress`...), or the dotted OID when it has none */
  name: string
  value: string
}

/** One relative distinguished name: usually one attribute, several for a multi-valued RDN. */
export type Rdn = DnAttribute[]

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
}

export const OID_CN = '2.5.4.3'

function decodeDirectoryString(node: Asn1Node): string {
  const raw = bytesOf(node, 'DN attribute value')
  switch (node.type as number) {
    case 12: // UTF8String
      return raw.toString('utf8')
    case 30: {
      // BMPString: UCS-2 big-endian
      const swapped = Buffer.from(raw)
      swapped.swap16()
      return swapped.toString('utf16le')
    }
    case 28: {
      // UniversalString: UCS-4 big-endian
      let out = ''
      for (let i = 0; i + 3 < raw.length; i += 4) out += String.fromCodePoint(raw.readUInt32BE(i))
      return out
    }
    default: // PrintableString, IA5String, T61String, VisibleString, NumericString
      return raw.toString('latin1')
  }
}

/** Decodes a DER Name (SEQUENCE OF RDN). */
export function parseName(node: Asn1Node | undefined): Rdn[] {
  return childrenOf(node, 'Name').map((set) =>
    childrenOf(set, 'RDN').map((ava) => {
      const [type, value] = childrenOf(ava, 'DN attribute')
      const oid = oidOf(type)
      if (value === undefined) throw new Error('malformed DN attribute')
      return { oid, name: SHORT_NAMES[oid] ?? oid, value: decodeDirectoryString(value) }
    }),
  )
}

/** The grid (OpenSSL one-line) form: `/DC=ch/DC=cern/OU=Users/CN=alice`, RDNs in certificate order. */
export function formatSlashDn(rdns: readonly Rdn[]): string {
  return rdns
    .flat()
    .map((a) => `/${a.name}=${a.value}`)
    .join('')
}

/** The comma form OpenSSL prints by default (`DC=ch, DC=cern, CN=alice`), as FTS's error messages show it. */
export function formatCommaDn(rdns: readonly Rdn[]): string {
  return rdns
    .flat()
    .map((a) => `${a.name}=${a.value}`)
    .join(', ')
}

function rdnKey(rdn: Rdn): string {
  return rdn
    .map((a) => `${a.oid}=${a.value}`)
    .sort()
    .join('+')
}

/** Name equality, attribute by attribute (order of RDNs matters, order inside a multi-valued RDN does not). */
export function sameName(a: readonly Rdn[], b: readonly Rdn[]): boolean {
  return a.length === b.length && a.every((rdn, i) => rdnKey(rdn) === rdnKey(b[i]!))
}

/** RFC 3820 subject rule: `subject` is `issuer` followed by exactly one more RDN, a single `CN`. */
export function isIssuerPlusOneCn(subject: readonly Rdn[], issuer: readonly Rdn[]): boolean {
  const last = subject[subject.length - 1]
  return (
    subject.length === issuer.length + 1 &&
    sameName(subject.slice(0, -1), issuer) &&
    last?.length === 1 &&
    last[0]!.oid === OID_CN
  )
}

// ---------------------------------------------------------------------------------------------------------
// Certificates

export const OID_PROXY_CERT_INFO = '1.3.6.1.5.5.7.1.14'
/** The pre-RFC (GT3 draft) proxyCertInfo, still found in old middleware. */
export const OID_PROXY_CERT_INFO_DRAFT = '1.3.6.1.4.1.3536.1.222'
export const OID_PPL_INHERIT_ALL = '1.3.6.1.5.5.7.21.1'
export const OID_PPL_INDEPENDENT = '1.3.6.1.5.5.7.21.2'
export const OID_PPL_LIMITED = '1.3.6.1.4.1.3536.1.1.1.9'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'
const OID_KEY_USAGE = '2.5.29.15'
const OID_SUBJECT_KEY_ID = '2.5.29.14'
const OID_AUTHORITY_KEY_ID = '2.5.29.35'

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

export interface CertExtension {
  oid: string
  critical: boolean
  /** the DER inside the extension's OCTET STRING */
  value: Buffer
}

export interface ProxyCertInfo {
  /** which extension carried it: RFC 3820 or the GT3 draft */
  oid: string
  /** pCPathLenConstraint: how many proxies may follow; absent = unlimited */
  pathLen?: number
  /** policy language OID, e.g. inheritAll 1.3.6.1.5.5.7.21.1 */
  policyLanguage: string
}

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

function parseExtensions(node: Asn1Node | undefined): CertExtension[] {
  return childrenOf(childrenOf(node, 'extensions')[0], 'extensions').map((ext) => {
    const parts = childrenOf(ext, 'extension')
    const oid = oidOf(parts[0])
    const critical = isUniversal(parts[1], asn1.Type.BOOLEAN) ? bytesOf(parts[1])[0] !== 0 : false
    const value = bytesOf(parts[parts.length - 1], 'extension value')
    return { oid, critical, value }
  })
}

function parseKeyUsage(value: Buffer): KeyUsageName[] {
  const node = parseDer(value)
  if (!isUniversal(node, asn1.Type.BITSTRING)) throw new Error('malformed keyUsage')
  const raw = bytesOf(node)
  const names: KeyUsageName[] = []
  KEY_USAGE_BITS.forEach((name, bit) => {
    const byte = raw[1 + (bit >> 3)]
    if (byte !== undefined && byte & (0x80 >> (bit & 7))) names.push(name)
  })
  return names
}

function parseProxyCertInfo(ext: CertExtension): ProxyCertInfo {
  // RFC 3820: SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy SEQUENCE { OID, OCTET STRING OPT } }
  // GT3 draft: SEQUENCE { proxyPolicy, [1] EXPLICIT INTEGER OPTIONAL }; accept either layout.
  let pathLen: number | undefined
  let policyLanguage: string | undefined
  for (const part of childrenOf(parseDer(ext.value), 'proxyCertInfo')) {
    if (isUniversal(part, asn1.Type.INTEGER)) pathLen = Number(integerOf(part))
    else if (isContext(part, 1)) pathLen = Number(integerOf(childrenOf(part)[0]))
    else if (isUniversal(part, asn1.Type.SEQUENCE)) policyLanguage = oidOf(childrenOf(part)[0])
  }
  if (policyLanguage === undefined) throw new Error('proxyCertInfo without a proxy policy')
  return pathLen === undefined ? { oid: ext.oid, policyLanguage } : { oid: ext.oid, pathLen, policyLanguage }
}

function parseCertDer(der: Buffer): Cert {
  const [tbs] = childrenOf(parseDer(der), 'certificate')
  const fields = childrenOf(tbs, 'TBSCertificate')
  let i = 0
  let version = 1
  if (isContext(fields[0], 0)) {
    version = Number(integerOf(childrenOf(fields[0])[0])) + 1
    i = 1
  }
  const serial = integerOf(fields[i])
  const issuerRdns = parseName(fields[i + 2])
  const [notBeforeNode, notAfterNode] = childrenOf(fields[i + 3], 'validity')
  const subjectRdns = parseName(fields[i + 4])
  let extensions: CertExtension[] = []
  for (const field of fields.slice(i + 6)) if (isContext(field, 3)) extensions = parseExtensions(field)

  const cert: Omit<Cert, 'pem' | 'publicKey' | 'x509'> = {
    der,
    version,
    serialHex: serial.toString(16),
    subject: formatSlashDn(subjectRdns),
    issuer: formatSlashDn(issuerRdns),
    subjectRdns,
    issuerRdns,
    notBefore: parseTime(notBeforeNode),
    notAfter: parseTime(notAfterNode),
    isCa: false,
    proxyShaped: isIssuerPlusOneCn(subjectRdns, issuerRdns),
    selfIssued: sameName(subjectRdns, issuerRdns),
    extensions,
  }
  for (const ext of extensions) {
    if (ext.oid === OID_BASIC_CONSTRAINTS) {
      const parts = childrenOf(parseDer(ext.value), 'basicConstraints')
      for (const part of parts) {
        if (isUniversal(part, asn1.Type.BOOLEAN)) cert.isCa = bytesOf(part)[0] !== 0
        else if (isUniversal(part, asn1.Type.INTEGER)) cert.caPathLen = Number(integerOf(part))
      }
    } else if (ext.oid === OID_KEY_USAGE) {
      cert.keyUsage = parseKeyUsage(ext.value)
    } else if (ext.oid === OID_PROXY_CERT_INFO || ext.oid === OID_PROXY_CERT_INFO_DRAFT) {
      cert.proxyCertInfo = parseProxyCertInfo(ext)
    } else if (ext.oid === OID_SUBJECT_KEY_ID) {
      cert.subjectKeyId = bytesOf(parseDer(ext.value)).toString('hex')
    } else if (ext.oid === OID_AUTHORITY_KEY_ID) {
      const keyId = childrenOf(parseDer(ext.value), 'authorityKeyIdentifier').find((p) => isContext(p, 0))
      if (keyId !== undefined) cert.authorityKeyId = bytesOf(keyId).toString('hex')
    }
  }
  const x509 = new X509Certificate(der)
  return { ...cert, pem: derToPem(der), publicKey: x509.publicKey, x509 }
}

/** An X.509 Time (UTCTime or GeneralizedTime). */
export function parseTime(node: Asn1Node | undefined): Date {
  if (node?.tagClass === asn1.Class.UNIVERSAL && typeof node.value === 'string') {
    if (node.type === asn1.Type.UTCTIME) return asn1.utcTimeToDate(node.value)
    if (node.type === asn1.Type.GENERALIZEDTIME) return asn1.generalizedTimeToDate(node.value)
  }
  throw new Error('malformed validity time')
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
  const spki = parseDer(publicKey.export({ type: 'spki', format: 'der' }))
  const bits = bytesOf(childrenOf(spki, 'SubjectPublicKeyInfo')[1], 'subjectPublicKey')
  return createHash('sha1').update(bits.subarray(1)).digest()
}

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

/** `2024-05-01T12:00:00Z`: ISO 8601 without milliseconds, for messages. */
export function formatDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z')
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
