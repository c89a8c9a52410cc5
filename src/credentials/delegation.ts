/**
 * GridSite delegation (docs/fts3-rest.md §4): the server hands out a CSR and keeps its key; the client signs
 * an RFC 3820 proxy for that public key with the user's proxy key and PUTs it back with its own chain.
 * node:crypto cannot issue certificates, so the TBSCertificate is DER-encoded here with node-forge's asn1 and
 * signed with node:crypto (RSA or EC signer keys).
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
} from 'node:crypto'
import forge from 'node-forge'
import { AsoError } from '../domain/errors.js'
import {
  type Asn1Node,
  bytesOf,
  type Cert,
  childrenOf,
  derChildren,
  derToPem,
  encodeDer,
  endEntityIndex,
  errorText,
  formatCommaDn,
  formatDate,
  formatSlashDn,
  keyIdentifierOf,
  OID_CN,
  OID_PPL_INDEPENDENT,
  OID_PPL_INHERIT_ALL,
  OID_PPL_LIMITED,
  OID_PROXY_CERT_INFO,
  oidOf,
  parseCert,
  parseDer,
  parseName,
  pemBlocks,
  sameName,
  signatureHashOf,
  splitPem,
} from './pem.js'

const asn1 = forge.asn1
const { Class, Type } = asn1

// --- DER builders -----------------------------------------------------------------------------------------

const seq = (items: Asn1Node[]) => asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items)
const set = (items: Asn1Node[]) => asn1.create(Class.UNIVERSAL, Type.SET, true, items)
const oid = (id: string) => asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(id).getBytes())
const octets = (bytes: Buffer) =>
  asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, bytes.toString('binary'))
const bits = (bytes: Buffer, unused = 0) =>
  asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unused) + bytes.toString('binary'))
const TRUE = asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, '\xff')
const NULL = asn1.create(Class.UNIVERSAL, Type.NULL, false, '')

function integer(n: bigint): Asn1Node {
  let hex = n.toString(16)
  if (hex.length % 2) hex = `0${hex}`
  if (Number.parseInt(hex.slice(0, 2), 16) & 0x80) hex = `00${hex}`
  return asn1.create(Class.UNIVERSAL, Type.INTEGER, false, Buffer.from(hex, 'hex').toString('binary'))
}

function time(date: Date): Asn1Node {
  const year = date.getUTCFullYear()
  return year >= 1950 && year < 2050
    ? asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date))
}

function extension(id: string, critical: boolean, value: Asn1Node): Asn1Node {
  const parts = [oid(id)]
  if (critical) parts.push(TRUE)
  parts.push(octets(encodeDer(value)))
  return seq(parts)
}

// --- signature algorithms ---------------------------------------------------------------------------------

const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11'
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2'

/** sha256WithRSAEncryption (parameters NULL) for RSA keys, ecdsa-with-SHA256 for EC keys. */
function signatureAlgorithmFor(key: KeyObject): Asn1Node {
  if (key.asymmetricKeyType === 'rsa') return seq([oid(OID_SHA256_WITH_RSA), NULL])
  if (key.asymmetricKeyType === 'ec') return seq([oid(OID_ECDSA_WITH_SHA256)])
  throw new AsoError(
    'invalid-request',
    `cannot sign a proxy with a ${key.asymmetricKeyType ?? 'unknown'} key: only RSA and EC keys are supported`,
  )
}

const spkiOf = (key: KeyObject) => key.export({ type: 'spki', format: 'der' })

// --- CSR --------------------------------------------------------------------------------------------------

export interface ParsedCsr {
  /** the requested subject, slash form (FTS asks for `/O=Dummy`; it is ignored when signing) */
  subject: string
  /** SubjectPublicKeyInfo DER, exactly as in the request */
  spkiDer: Buffer
  publicKey: KeyObject
}

/** Parses a PKCS#10 request and checks its self-signature. Throws AsoError ('invalid-request'). */
export function parseCsr(csrPem: string): ParsedCsr {
  const block = pemBlocks(csrPem).find((b) => /^(NEW )?CERTIFICATE REQUEST$/.test(b.label))
  if (block === undefined) {
    throw new AsoError('invalid-request', 'the delegation request is not a PEM certificate request (CSR)')
  }
  try {
    const [infoDer, algorithmDer, signatureDer] = derChildren(block.der)
    if (infoDer === undefined || algorithmDer === undefined || signatureDer === undefined) {
      throw new Error('a CSR has three parts')
    }
    const infoParts = derChildren(infoDer)
    const spkiDer = infoParts[2]
    if (spkiDer === undefined) throw new Error('no public key')
    const info = childrenOf(parseDer(infoDer), 'CertificationRequestInfo')
    const subject = formatSlashDn(parseName(info[1]))
    const publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' })
    const algorithm = oidOf(childrenOf(parseDer(algorithmDer), 'signature algorithm')[0])
    const hash = signatureHashOf(algorithm)
    if (hash === undefined) throw new Error(`unsupported signature algorithm ${algorithm}`)
    const signature = bytesOf(parseDer(signatureDer), 'signature').subarray(1)
    if (!verify(hash, infoDer, publicKey, signature)) throw new Error('its self-signature does not verify')
    return { subject, spkiDer: Buffer.from(spkiDer), publicKey }
  } catch (err) {
    if (err instanceof AsoError) throw err
    throw new AsoError('invalid-request', `the delegation request (CSR) is not valid: ${errorText(err)}`, {
      cause: err,
    })
  }
}

/**
 * Server side of step 3 (used by the FTS3 test double): a new RSA key and a PKCS#10 request for it,
 * subject `O=Dummy`, signed with SHA-256. The key is PKCS#1 PEM (`RSA PRIVATE KEY`), as FTS stores it.
 */
export function makeProxyCsr(options: { bits?: number } = {}): { csrPem: string; keyPem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', {
    modulusLength: options.bits ?? 2048,
    publicExponent: 65537,
  })
  const subject = seq([
    set([seq([oid('2.5.4.10'), asn1.create(Class.UNIVERSAL, Type.PRINTABLESTRING, false, 'Dummy')])]),
  ])
  const info = seq([
    integer(0n),
    subject,
    parseDer(spkiOf(publicKey)),
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, []), // attributes: none
  ])
  const infoDer = encodeDer(info)
  const signature = sign('sha256', infoDer, privateKey)
  const csr = seq([info, seq([oid(OID_SHA256_WITH_RSA), NULL]), bits(signature)])
  return {
    csrPem: derToPem(encodeDer(csr), 'CERTIFICATE REQUEST'),
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  }
}

// --- signing ----------------------------------------------------------------------------------------------

export interface ProxySigner {
  /** the certificate that signs: the user's proxy (or, without a proxy, the user certificate) */
  certPem: string
  /** its private key */
  keyPem: string
  /** the rest of its chain, leaf first (user certificate, ...); each entry may hold several certificates */
  chainPem?: readonly string[]
}

/** Clock skew allowance: the new proxy is valid from 5 minutes before `now`. */
const SKEW_MS = 5 * 60 * 1000

/**
 * Step 4: signs the server's CSR as an RFC 3820 proxy of `signer` and returns the body of the PUT: the new
 * proxy certificate followed by the signer's certificates (no key). Its lifetime is `lifetimeMs`, cut to the
 * signer chain's earliest notAfter. Throws AsoError when the CSR is bad or the signer expired or mismatched.
 */
export function signProxyFromCsr(
  csrPem: string,
  signer: ProxySigner,
  lifetimeMs: number,
  now: Date = new Date(),
): string {
  if (!Number.isFinite(lifetimeMs) || lifetimeMs <= 0) {
    throw new AsoError('invalid-request', `proxy lifetime must be a positive duration, got ${lifetimeMs} ms`)
  }
  const csr = parseCsr(csrPem)
  const signerCert = parseCert(signer.certPem, 'signing certificate')
  const chain = (signer.chainPem ?? []).flatMap((pem) =>
    splitPem(pem).certificates.map((c) => parseCert(c, 'signer chain')),
  )
  let signerKey: KeyObject
  try {
    signerKey = createPrivateKey(signer.keyPem)
  } catch (err) {
    throw new AsoError('unauthenticated', `cannot read the signing proxy's private key: ${errorText(err)}`, {
      cause: err,
    })
  }
  if (!spkiOf(createPublicKey(signerKey)).equals(spkiOf(signerCert.publicKey))) {
    throw new AsoError(
      'unauthenticated',
      `the signing key does not belong to the signing certificate ${signerCert.subject}`,
    )
  }
  const policy = delegatedPolicy([signerCert, ...chain])
  const earliest = Math.min(...[signerCert, ...chain].map((c) => c.notAfter.getTime()))
  if (earliest <= now.getTime()) {
    throw new AsoError(
      'unauthenticated',
      `cannot delegate: the proxy of ${signerCert.subject} expired on ${formatDate(new Date(earliest))}; ` +
        'run voms-proxy-init to make a new one',
    )
  }
  const notBefore = new Date(Math.floor((now.getTime() - SKEW_MS) / 1000) * 1000)
  const notAfter = new Date(Math.floor(Math.min(now.getTime() + lifetimeMs, earliest) / 1000) * 1000)

  // Serial: a positive random 63-bit number; the extra CN is its decimal form (RFC 3820 §3.4).
  const random = randomBytes(8)
  random[0] = random[0]! & 0x7f
  const serial = random.readBigUInt64BE() || 1n

  const tbsParts = derChildren(derChildren(signerCert.der)[0]!)
  const offset = tbsParts[0]?.[0] === 0xa0 ? 1 : 0
  const signerSubject = tbsParts[offset + 4]
  if (signerSubject === undefined) throw new AsoError('invalid-request', 'malformed signing certificate')
  const subject = seq([
    ...childrenOf(parseDer(signerSubject), 'subject'),
    set([seq([oid(OID_CN), asn1.create(Class.UNIVERSAL, Type.PRINTABLESTRING, false, serial.toString())])]),
  ])
  const keyUsage = bits(Buffer.from([0xa0]), 5) // digitalSignature (bit 0) + keyEncipherment (bit 2)
  const authorityKeyId = signerCert.subjectKeyId
    ? Buffer.from(signerCert.subjectKeyId, 'hex')
    : keyIdentifierOf(signerCert.publicKey)
  // No pCPathLenConstraint of its own: the signer chain's constraints still bind whatever follows it.
  const proxyCertInfo = seq([seq([oid(policy)])])
  const signatureAlgorithm = signatureAlgorithmFor(signerKey)
  const tbs = seq([
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [integer(2n)]), // v3
    integer(serial),
    signatureAlgorithm,
    parseDer(signerSubject), // issuer = the signer's subject, as encoded there
    seq([time(notBefore), time(notAfter)]),
    subject,
    parseDer(csr.spkiDer),
    asn1.create(Class.CONTEXT_SPECIFIC, 3, true, [
      seq([
        extension('2.5.29.19', true, seq([])), // basicConstraints: CA:FALSE
        extension('2.5.29.15', true, keyUsage),
        extension(
          '2.5.29.35',
          false,
          seq([asn1.create(Class.CONTEXT_SPECIFIC, 0, false, authorityKeyId.toString('binary'))]),
        ),
        extension(OID_PROXY_CERT_INFO, true, proxyCertInfo),
      ]),
    ]),
  ])
  const tbsDer = encodeDer(tbs)
  const signature = sign('sha256', tbsDer, signerKey)
  const certDer = encodeDer(seq([tbs, signatureAlgorithm, bits(signature)]))
  return [derToPem(certDer), signerCert.pem, ...chain.map((c) => c.pem)].join('')
}

/**
 * The policy language of a proxy signed by `chain[0]` (leaf first): limited when any proxy above it is limited
 * (a limited proxy must not yield a full one), else inheritAll. Throws when the chain forbids a further proxy:
 * a pCPathLenConstraint already used up, or an independent proxy (which carries no identity to delegate).
 */
function delegatedPolicy(chain: readonly Cert[]): string {
  const proxyCount = endEntityIndex(chain)
  const proxies = chain.slice(0, proxyCount < 0 ? chain.length : proxyCount)
  let limited = false
  for (const [i, proxy] of proxies.entries()) {
    const info = proxy.proxyCertInfo
    // proxy i has i proxies below it now; the new one makes i + 1
    if (info?.pathLen !== undefined && i + 1 > info.pathLen) {
      throw new AsoError(
        'unauthenticated',
        `cannot delegate: the proxy ${proxy.subject} allows ${info.pathLen} further prox${info.pathLen === 1 ? 'y' : 'ies'} ` +
          '(pathlen), so a proxy signed from it would be refused; make a proxy without a path length limit ' +
          '(voms-proxy-init without -path-length) and delegate from that',
      )
    }
    if (info?.policyLanguage === OID_PPL_INDEPENDENT) {
      throw new AsoError(
        'unauthenticated',
        `cannot delegate: ${proxy.subject} is an independent proxy, which does not carry the user's identity; ` +
          'delegate from an ordinary proxy (voms-proxy-init)',
      )
    }
    const legacyLimited = info === undefined && proxy.subjectRdns.at(-1)?.[0]?.value === 'limited proxy'
    if (info?.policyLanguage === OID_PPL_LIMITED || legacyLimited) limited = true
  }
  return limited ? OID_PPL_LIMITED : OID_PPL_INHERIT_ALL
}

// --- server side check (FTS's _validate_proxy) --------------------------------------------------------------

export type DelegatedChainCheck =
  | {
      ok: true
      /** earliest notAfter of the delegated chain: the credential's termination_time */
      terminationTime: Date
      /** the grid identity of the delegated chain (its end-entity DN, proxy CNs not included) */
      dn: string
      /** the delegated proxy's own DN */
      proxyDn: string
    }
  | { ok: false; reason: string }

const refuse = (why: string): DelegatedChainCheck => ({
  ok: false,
  reason: `Could not process the proxy: ${why}`,
})

/**
 * What FTS checks on `PUT /delegation/{id}/credential` (reasons worded as FTS words them): at least two
 * certificates; the first one's public key is the stored key's; it verifies against the second one's key;
 * its subject is its issuer plus one trailing CN. Like FTS, it does not verify the chain up to a CA.
 */
export function checkDelegatedChain(chainPem: string, storedKeyPem: string): DelegatedChainCheck {
  let certs: Cert[]
  try {
    certs = splitPem(chainPem).certificates.map((pem) => parseCert(pem))
  } catch (err) {
    // Unparsable certificates: FTS's reader stops at the first bad one, which leaves too few.
    void err
    return refuse('Malformed proxy')
  }
  const [proxy, issuer] = certs
  if (proxy === undefined || issuer === undefined) return refuse('Malformed proxy')
  let storedSpki: Buffer
  try {
    storedSpki = spkiOf(createPublicKey(createPrivateKey(storedKeyPem)))
  } catch (err) {
    return refuse(`the stored private key cannot be read (${errorText(err)})`)
  }
  if (!storedSpki.equals(spkiOf(proxy.publicKey))) {
    return refuse('The proxy does not match the stored associated private key')
  }
  let verified = false
  try {
    verified = proxy.x509.verify(issuer.publicKey)
  } catch (err) {
    // A key of another type cannot verify it: same answer as a wrong signature.
    void err
  }
  if (!verified) return refuse('Failed to verify the proxy, maybe signed with the wrong private key?')
  if (!sameName(proxy.subjectRdns.slice(0, -1), proxy.issuerRdns)) {
    return refuse(
      `The subject and the issuer of the proxy do not match: ${formatCommaDn(proxy.subjectRdns)} != ` +
        formatCommaDn(proxy.issuerRdns),
    )
  }
  const last = proxy.subjectRdns[proxy.subjectRdns.length - 1]
  if (last?.[0]?.oid !== OID_CN) return refuse('Missing trailing Common Name in the proxy')
  const eeIndex = endEntityIndex(certs)
  return {
    ok: true,
    terminationTime: new Date(Math.min(...certs.map((c) => c.notAfter.getTime()))),
    dn: eeIndex >= 0 ? certs[eeIndex]!.subject : certs[certs.length - 1]!.issuer,
    proxyDn: proxy.subject,
  }
}

/** What FTS stores once the PUT is accepted: delegated certificate, the stored key, then the chain. */
export function assembleProxyFile(chainPem: string, keyPem: string): string {
  const [first, ...rest] = splitPem(chainPem).certificates
  if (first === undefined) throw new AsoError('invalid-request', 'no certificate in the delegated chain')
  const key = keyPem.endsWith('\n') ? keyPem : `${keyPem}\n`
  return [first, key, ...rest].join('')
}
