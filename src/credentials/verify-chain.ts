/**
 * Verifies a presented certificate chain, RFC 3820 proxies included, against an `X509_CERT_DIR` style CA
 * directory. Node's TLS (OpenSSL without X509_V_FLAG_ALLOW_PROXY_CERTS) refuses proxies, so a server that
 * accepts grid clients requests the certificate without rejecting it and calls `verifyPeer` itself.
 * The directory's CRLs (`<hash>.r0`) and namespace policies (`.namespaces`, `.signing_policy`) are applied too
 * (ca-directory.ts). Not done here: name constraints, VOMS AC validation.
 */
import type { DetailedPeerCertificate, PeerCertificate } from 'node:tls'
import { issuanceProblem } from './ca-directory.js'
import { isIssuerPlusOneCn, type Rdn, sameName } from './dn.js'
import { errorText, formatDate } from './messages.js'
import {
  OID_PPL_INDEPENDENT,
  OID_PPL_INHERIT_ALL,
  OID_PPL_LIMITED,
  OID_PROXY_CERT_INFO,
  OID_PROXY_CERT_INFO_DRAFT,
} from './proxy-cert-info.js'
import { loadTrustStore, type TrustStore } from './trust-store.js'
import { type Cert, parseCert, parseCertBundle } from './x509.js'

export type ChainVerification =
  | {
      ok: true
      /** the grid identity: the end-entity certificate's DN (proxy CNs not included) */
      identityDn: string
      /** the identity as RDNs, read from the certificate: compare these, not the printed identityDn */
      identityRdns: Rdn[]
      /** same as identityDn: the subject of the first non-proxy certificate */
      endEntityDn: string
      /** the presented (first) certificate's DN: the proxy's own DN when isProxy */
      leafDn: string
      isProxy: boolean
      /** how many proxy certificates precede the end-entity certificate */
      proxyDepth: number
      /** earliest notAfter of the whole path, trusted CA included */
      notAfter: Date
      /** the validated path, leaf first, ending with the trusted CA */
      path: Cert[]
    }
  | { ok: false; reason: string }

/**
 * Verifies `chain` (leaf first: proxies, end-entity certificate, optional intermediate CAs) against the
 * CAs of `caDir` at time `now`. Never throws for a bad chain: the answer says why it was refused. `warn`
 * hears what is accepted but worth an operator's look (a CA without a CRL), once per CA.
 */
export async function verifyChain(
  chain: string | readonly Cert[],
  caDir: string | TrustStore,
  now: Date = new Date(),
  warn?: (message: string) => void,
): Promise<ChainVerification> {
  const store = typeof caDir === 'string' ? await loadTrustStore(caDir) : caDir
  let certs: readonly Cert[]
  try {
    certs = typeof chain === 'string' ? parseCertBundle(chain, 'presented chain') : chain
  } catch (err) {
    return { ok: false, reason: errorText(err) }
  }
  return verifyChainSync(certs, store, now, warn)
}

/** Upper bound on path length, against loops and silly chains. */
const MAX_DEPTH = 20

/** The synchronous core of verifyChain, for callers holding a loaded TrustStore. */
export function verifyChainSync(
  certs: readonly Cert[],
  store: TrustStore,
  now: Date = new Date(),
  warn?: (message: string) => void,
): ChainVerification {
  const leaf = certs[0]
  if (leaf === undefined) return { ok: false, reason: 'no certificate presented' }
  if (certs.length > MAX_DEPTH) return fail(`chain too long (${certs.length} certificates)`)
  const unused = new Set(certs.slice(1))
  const presentedIssuers = (cert: Cert) => [...unused].filter((c) => sameName(c.subjectRdns, cert.issuerRdns))
  const path: Cert[] = []

  // 1. Proxies: each one is signed by the next presented certificate, an end-entity cert or another proxy.
  let current = leaf
  const proxies: Cert[] = []
  for (;;) {
    const timeProblem = checkTime(current, now)
    const candidates = presentedIssuers(current)
    if (current.proxyCertInfo === undefined) {
      if (isLegacyProxy(current, candidates)) return fail(legacyProxyRefusal(current))
      break
    }
    const what = `proxy ${current.subject}`
    if (timeProblem) return fail(`${what} ${timeProblem}`)
    const policyProblem = proxyPolicyProblem(current)
    if (policyProblem) return fail(policyProblem)
    if (current.isCa) return fail(`${what} must not be a CA certificate (basicConstraints CA:TRUE)`)
    if (current.keyUsage?.includes('keyCertSign')) return fail(`${what} must not have the keyCertSign usage`)
    if (!isIssuerPlusOneCn(current.subjectRdns, current.issuerRdns)) {
      return fail(
        `${what} is not a valid proxy: its subject must be its issuer ${current.issuer} plus one CN`,
      )
    }
    if (candidates.length === 0) {
      return fail(`${what} is not followed by its issuer ${current.issuer} in the chain`)
    }
    const issuer = candidates.find((c) => signedBy(current, c))
    if (issuer === undefined) {
      return fail(
        `${what} does not verify against the key of its issuer ${current.issuer} (forged or corrupt)`,
      )
    }
    if (issuer.isCa)
      return fail(`${what} is issued by a CA certificate; proxies are signed by a user or proxy`)
    if (issuer.keyUsage !== undefined && !issuer.keyUsage.includes('digitalSignature')) {
      return fail(`${what} is issued by ${issuer.subject}, whose key usage does not allow digitalSignature`)
    }
    proxies.push(current)
    path.push(current)
    unused.delete(issuer)
    current = issuer
  }
  // pCPathLenConstraint: proxy number i (0 = leaf) has i proxies below it.
  for (const [i, proxy] of proxies.entries()) {
    const limit = proxy.proxyCertInfo?.pathLen
    if (limit !== undefined && i > limit) {
      return fail(`proxy ${proxy.subject} allows ${limit} further proxies but ${i} follow it`)
    }
  }

  // 2. The end-entity certificate: not a CA, within its validity.
  const endEntity = current
  const eeTime = checkTime(endEntity, now)
  if (eeTime) return fail(`certificate ${endEntity.subject} ${eeTime}`)
  if (endEntity.isCa) {
    return fail(`certificate ${endEntity.subject} is a CA certificate, not a user, host or proxy certificate`)
  }
  path.push(endEntity)

  // 3. Up to a trusted CA, through presented intermediate CAs if needed.
  let child = endEntity
  let intermediates = 0
  for (;;) {
    if (path.length > MAX_DEPTH) return fail('chain too long')
    const trusted = store.cas.filter((ca) => sameName(ca.subjectRdns, child.issuerRdns))
    const anchor = trusted.find((ca) => signedBy(child, ca))
    if (anchor !== undefined) {
      const problem = checkTime(anchor, now)
      if (problem) return fail(`trusted CA certificate ${anchor.subject} ${problem}`)
      if (!anchor.isCa && !(anchor.version === 1 && anchor.selfIssued)) {
        return fail(`${anchor.subject} in ${store.dir} is not a CA certificate`)
      }
      const caProblem = caUsageProblem(anchor, intermediates)
      if (caProblem) return fail(caProblem)
      path.push(anchor)
      break
    }
    const presented = presentedIssuers(child)
    const intermediate = presented.find((c) => signedBy(child, c))
    if (intermediate === undefined) {
      if (trusted.length > 0 || presented.length > 0) {
        return fail(
          `certificate ${child.subject} does not verify against the key of its issuer ${child.issuer} ` +
            '(forged, or signed by another CA of the same name)',
        )
      }
      return fail(`certificate ${child.subject} is issued by an unknown CA: ${child.issuer}`)
    }
    const problem = checkTime(intermediate, now)
    if (problem) return fail(`CA certificate ${intermediate.subject} ${problem}`)
    if (!intermediate.isCa) {
      return fail(`certificate ${child.subject} is issued by ${intermediate.subject}, which is not a CA`)
    }
    const caProblem = caUsageProblem(intermediate, intermediates)
    if (caProblem) return fail(caProblem)
    path.push(intermediate)
    unused.delete(intermediate)
    intermediates++
    child = intermediate
  }

  // 4. What the CA directory says of each certificate a CA issued: CRL, namespace policy.
  if (store.policy !== undefined) {
    for (let i = proxies.length; i + 1 < path.length; i++) {
      const problem = issuanceProblem(store.policy, store.dir, path[i]!, path[i + 1]!, now, warn)
      if (problem) return fail(problem)
    }
  }

  for (const cert of path) {
    const critical = cert.extensions.find((e) => e.critical && !HANDLED_CRITICAL.has(e.oid))
    if (critical)
      return fail(`certificate ${cert.subject} has an unsupported critical extension ${critical.oid}`)
  }
  const notAfter = new Date(Math.min(...path.map((c) => c.notAfter.getTime())))
  return {
    ok: true,
    identityDn: endEntity.subject,
    identityRdns: endEntity.subjectRdns,
    endEntityDn: endEntity.subject,
    leafDn: leaf.subject,
    isProxy: proxies.length > 0,
    proxyDepth: proxies.length,
    notAfter,
    path,
  }
}

/** Critical extensions OpenSSL's verifier understands (plus the draft proxyCertInfo); others refuse the cert. */
const HANDLED_CRITICAL = new Set([
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.30', // nameConstraints (not enforced here)
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.32', // certificatePolicies
  '2.5.29.33', // policyMappings
  '2.5.29.36', // policyConstraints
  '2.5.29.37', // extendedKeyUsage
  '2.5.29.54', // inhibitAnyPolicy
  OID_PROXY_CERT_INFO,
  OID_PROXY_CERT_INFO_DRAFT,
])

/**
 * A Globus GT2 (pre-RFC 3820) proxy: subject = issuer + `CN=proxy` / `CN=limited proxy` (or + any CN when its
 * non-CA issuer is presented), no proxyCertInfo. Refused everywhere, not only over TLS: OpenSSL links a chain
 * only through an issuer with keyCertSign unless the child carries proxyCertInfo, so Node's
 * getPeerCertificate(true) drops the user certificate behind such a proxy and no server could verify it.
 */
function isLegacyProxy(cert: Cert, presentedIssuers: readonly Cert[]): boolean {
  if (!cert.proxyShaped || cert.isCa) return false
  const cn = cert.subjectRdns[cert.subjectRdns.length - 1]?.[0]?.value
  return cn === 'proxy' || cn === 'limited proxy' || presentedIssuers.some((c) => !c.isCa)
}

function legacyProxyRefusal(cert: Cert): string {
  return (
    `${cert.subject} is a legacy (pre-RFC 3820, Globus GT2) proxy, which ASO does not accept: make an ` +
    'RFC 3820 proxy (voms-proxy-init -rfc or grid-proxy-init -rfc; current versions make one by default)'
  )
}

/**
 * RFC 3820 §3.8: a proxy stands for its issuer only under a policy language the relying party understands.
 * inheritAll and the Globus limited proxy do; an independent proxy carries none of its issuer's rights, and
 * an unknown language may restrict them in ways ASO cannot honour.
 */
function proxyPolicyProblem(proxy: Cert): string | undefined {
  const language = proxy.proxyCertInfo?.policyLanguage
  if (language === undefined || language === OID_PPL_INHERIT_ALL || language === OID_PPL_LIMITED)
    return undefined
  if (language === OID_PPL_INDEPENDENT) {
    return (
      `proxy ${proxy.subject} is an independent proxy (id-ppl-independent): it does not carry the identity ` +
      `of ${proxy.issuer}, so ASO cannot act for that user with it; make an ordinary (inheritAll) proxy`
    )
  }
  return (
    `proxy ${proxy.subject} has the proxy policy language ${language}, which ASO does not understand: make an ` +
    'ordinary (inheritAll) or limited proxy'
  )
}

function fail(reason: string): ChainVerification {
  return { ok: false, reason }
}

function signedBy(cert: Cert, issuer: Cert): boolean {
  try {
    return cert.x509.verify(issuer.publicKey)
  } catch (err) {
    // An unsupported or mismatched key type cannot have made this signature.
    void err
    return false
  }
}

function checkTime(cert: Cert, now: Date): string | undefined {
  if (now.getTime() > cert.notAfter.getTime()) return `expired on ${formatDate(cert.notAfter)}`
  if (now.getTime() < cert.notBefore.getTime())
    return `is not yet valid (valid from ${formatDate(cert.notBefore)})`
  return undefined
}

function caUsageProblem(ca: Cert, below: number): string | undefined {
  if (ca.keyUsage !== undefined && !ca.keyUsage.includes('keyCertSign')) {
    return `CA certificate ${ca.subject} does not have the keyCertSign key usage`
  }
  if (ca.caPathLen !== undefined && below > ca.caPathLen) {
    return `CA certificate ${ca.subject} allows ${ca.caPathLen} intermediate CAs below it, found ${below}`
  }
  return undefined
}

/**
 * The chain Node saw on a TLS socket (`socket.getPeerCertificate(true)`), leaf first: follows
 * `issuerCertificate` until it repeats (a self-signed root points to itself).
 */
export function peerChain(peer: PeerCertificate | DetailedPeerCertificate | null | undefined): Cert[] {
  const certs: Cert[] = []
  const seen = new Set<string>()
  let current: PeerCertificate | undefined = peer ?? undefined
  while (current?.raw !== undefined && current.raw.length > 0) {
    const key = current.raw.toString('base64')
    if (seen.has(key)) break
    seen.add(key)
    certs.push(parseCert(current.raw, 'peer certificate'))
    current =
      'issuerCertificate' in current ? (current as DetailedPeerCertificate).issuerCertificate : undefined
  }
  return certs
}

/**
 * Verifies a TLS peer: `verifyPeer(socket.getPeerCertificate(true), caDir)`. The socket must have been
 * accepted with `requestCert: true, rejectUnauthorized: false` (OpenSSL itself refuses proxies).
 */
export async function verifyPeer(
  peer: PeerCertificate | DetailedPeerCertificate | null | undefined,
  caDir: string | TrustStore,
  now: Date = new Date(),
  warn?: (message: string) => void,
): Promise<ChainVerification> {
  let certs: Cert[]
  try {
    certs = peerChain(peer)
  } catch (err) {
    return { ok: false, reason: errorText(err) }
  }
  if (certs.length === 0) return { ok: false, reason: 'no client certificate presented' }
  return verifyChain(certs, caDir, now, warn)
}
