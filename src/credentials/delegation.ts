/**
 * GridSite delegation (docs/fts3-rest.md §4): the server hands out a CSR and keeps its key (csr.ts); the
 * client signs an RFC 3820 proxy for that public key with the user's proxy key and PUTs it back with its own
 * chain, which the server checks as FTS does. node:crypto cannot issue certificates, so the TBSCertificate
 * is built with @peculiar/asn1-x509 and signed with node:crypto (RSA or EC signer keys).
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes, sign } from 'node:crypto'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_keyUsage,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  type SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509'
import { AsoError } from '../domain/errors.js'
import { parseCsr } from './csr.js'
import { arrayBufferOf, derElements, integerContent, verbatim } from './der.js'
import { formatCommaDn, OID_CN, sameName } from './dn.js'
import { errorText, formatDate } from './messages.js'
import { derToPem, splitPem } from './pem.js'
import {
  OID_PPL_INDEPENDENT,
  OID_PPL_INHERIT_ALL,
  OID_PPL_LIMITED,
  OID_PROXY_CERT_INFO,
  ProxyCertInfoValue,
  ProxyPolicy,
} from './proxy-cert-info.js'
import { sha256SignatureAlgorithm } from './signature-algorithms.js'
import { type Cert, endEntityIndex, keyIdentifierOf, nameBytesOf, parseCert } from './x509.js'

const spkiOf = (key: KeyObject) => key.export({ type: 'spki', format: 'der' })

/** An extension holding `value`'s DER; not critical is left out, as DER wants for the default. */
function extension(extnID: string, critical: boolean, value: object): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) })
}

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

  // RFC 3820 §3.1: the proxy's issuer is the signer's subject Name, its bytes copied as they are encoded
  // there; the proxy's subject is those same RDNs plus one CN.
  const signerSubject = nameBytesOf(signerCert.der).subject
  const serialCn = new AttributeTypeAndValue({
    type: OID_CN,
    value: new AttributeValue({ printableString: serial.toString() }),
  })
  const subject = new Name([
    ...derElements(signerSubject).map((rdn) => verbatim<RelativeDistinguishedName>(rdn)),
    new RelativeDistinguishedName([serialCn]),
  ])
  const authorityKeyId = signerCert.subjectKeyId
    ? Buffer.from(signerCert.subjectKeyId, 'hex')
    : keyIdentifierOf(signerCert.publicKey)
  // No pCPathLenConstraint of its own: the signer chain's constraints still bind whatever follows it.
  const proxyCertInfo = new ProxyCertInfoValue({ proxyPolicy: new ProxyPolicy({ policyLanguage: policy }) })
  const signatureAlgorithm = sha256SignatureAlgorithm(signerKey)
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: integerContent(serial),
    signature: signatureAlgorithm,
    issuer: verbatim<Name>(signerSubject),
    validity: new Validity({ notBefore, notAfter }),
    subject,
    subjectPublicKeyInfo: verbatim<SubjectPublicKeyInfo>(csr.spkiDer),
    extensions: new Extensions([
      extension(id_ce_basicConstraints, true, new BasicConstraints()), // CA:FALSE
      extension(
        id_ce_keyUsage,
        true,
        new KeyUsage(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment),
      ),
      extension(
        id_ce_authorityKeyIdentifier,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
      ),
      extension(OID_PROXY_CERT_INFO, true, proxyCertInfo),
    ]),
  })
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs))
  const signature = sign('sha256', tbsDer, signerKey)
  const certificate = new Certificate({
    tbsCertificate: verbatim<TBSCertificate>(tbsDer),
    signatureAlgorithm,
    signatureValue: arrayBufferOf(signature),
  })
  const certDer = Buffer.from(AsnConvert.serialize(certificate))
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
