/**
 * A user's X.509 proxy file (what `voms-proxy-init` writes to /tmp/x509up_u<uid>): the proxy certificate, its
 * unencrypted private key, then the chain (user certificate, possibly more proxies). This module reads it and
 * tells who it is for and how long it lasts; it does not verify the chain (see verify-chain.ts).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { type AsnType as Asn1Block, ObjectIdentifier, Sequence } from 'asn1js'
import { AsoError } from '../domain/errors.js'
import { childrenOf, contentOf, readDer } from './der.js'
import { errorText, formatDate } from './messages.js'
import { splitPem } from './pem.js'
import { type Cert, endEntityIndex, parseCert } from './x509.js'

export interface ProxyInfo {
  /** where it was read from (a file path, or the label given to parseProxyPem) */
  path: string
  /** certificates in file order: the proxy first, then its chain */
  chain: Cert[]
  /** the private key of chain[0], PEM */
  key: string
  /** the grid identity: DN of the first non-proxy certificate (the user certificate) */
  identityDn: string
  /** DN of chain[0]: the proxy's own DN (`.../CN=alice/CN=123456`) */
  proxyDn: string
  /** false when the file holds a plain certificate and key rather than a proxy */
  isProxy: boolean
  /** earliest notAfter of the chain */
  notAfter: Date
  /** VOMS FQANs (`/cms/Role=NULL/Capability=NULL`) read from the proxy's VOMS AC, not verified; [] if none */
  vomsFqans: string[]
}

const ADVICE = 'run voms-proxy-init to make a new proxy (or point X509_USER_PROXY to a valid one)'

/** Where grid tools look for the user's proxy: `$X509_USER_PROXY`, else `/tmp/x509up_u<uid>`. */
export function defaultProxyPath(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.X509_USER_PROXY
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv
  return `/tmp/x509up_u${process.getuid?.() ?? 0}`
}

/**
 * Where a user's credential file lives on a server holding many: `pattern` (e.g.
 * `/var/lib/aso/proxies/{user}.pem`) with `{user}` replaced; null for a user name that could escape the directory.
 */
export function credentialPath(pattern: string, user: string): string | null {
  if (!/^[A-Za-z0-9._@-]+$/.test(user) || user.startsWith('.')) return null
  return pattern.replaceAll('{user}', user)
}

/**
 * Reads and checks a proxy file: certificates present, exactly one key, key matching the first certificate,
 * and (unless `allowExpired`) not expired at `now`. Every failure is an AsoError ('unauthenticated') that
 * names the file and says what to do.
 */
export async function readProxyFile(
  path: string,
  options: { now?: Date; allowExpired?: boolean } = {},
): Promise<ProxyInfo> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      throw new AsoError('unauthenticated', `X.509 proxy file ${path} does not exist: ${ADVICE}`, {
        cause: err,
      })
    }
    const why =
      code === 'EACCES' ? 'permission denied (it must be readable by the user running ASO)' : errorText(err)
    throw new AsoError('unauthenticated', `cannot read the X.509 proxy file ${path}: ${why}`, { cause: err })
  }
  const info = parseProxyPem(text, path)
  const now = options.now ?? new Date()
  if (!options.allowExpired && info.notAfter.getTime() <= now.getTime()) {
    throw new AsoError(
      'unauthenticated',
      `X.509 proxy ${path} of ${info.identityDn} expired on ${formatDate(info.notAfter)}: ${ADVICE}`,
    )
  }
  return info
}

/** parseProxyPem's checks on a proxy held in memory (e.g. a delegated credential). Does not check expiry. */
export function parseProxyPem(text: string, source = 'X.509 proxy'): ProxyInfo {
  const { certificates, privateKeys } = splitPem(text)
  if (certificates.length === 0) {
    throw new AsoError(
      'unauthenticated',
      `${source} holds no certificate, so it is not an X.509 proxy: ${ADVICE}`,
    )
  }
  if (privateKeys.length !== 1) {
    const found = privateKeys.length === 0 ? 'no private key' : `${privateKeys.length} private keys`
    throw new AsoError(
      'unauthenticated',
      `${source} holds ${found}; a proxy file is the proxy certificate, its key, then the chain: ${ADVICE}`,
    )
  }
  let chain: Cert[]
  try {
    chain = certificates.map((pem, i) => parseCert(pem, `certificate ${i + 1}`))
  } catch (err) {
    throw new AsoError('unauthenticated', `${source} is damaged: ${errorText(err)}; ${ADVICE}`, {
      cause: err,
    })
  }
  const key = privateKeys[0]!
  const first = chain[0]!
  let keyMatches: boolean
  try {
    const publicFromKey = createPublicKey(createPrivateKey(key)).export({ type: 'spki', format: 'der' })
    keyMatches = publicFromKey.equals(first.publicKey.export({ type: 'spki', format: 'der' }))
  } catch (err) {
    throw new AsoError(
      'unauthenticated',
      `the private key in ${source} cannot be read (${errorText(err)}); proxy keys are not encrypted: ${ADVICE}`,
      { cause: err },
    )
  }
  if (!keyMatches) {
    throw new AsoError(
      'unauthenticated',
      `the private key in ${source} does not belong to its first certificate ${first.subject}: ${ADVICE}`,
    )
  }
  const eeIndex = endEntityIndex(chain)
  // A chain of proxies only (user certificate missing): report the issuer the last proxy names.
  const identityDn = eeIndex >= 0 ? chain[eeIndex]!.subject : chain[chain.length - 1]!.issuer
  const vomsFqans: string[] = []
  for (const cert of chain.slice(0, Math.max(eeIndex, 0))) {
    for (const fqan of vomsFqansOf(cert)) if (!vomsFqans.includes(fqan)) vomsFqans.push(fqan)
  }
  return {
    path: source,
    chain,
    key,
    identityDn,
    proxyDn: first.subject,
    isProxy: eeIndex !== 0,
    notAfter: new Date(Math.min(...chain.map((c) => c.notAfter.getTime()))),
    vomsFqans,
  }
}

/** Milliseconds until the proxy (or any certificate of its chain) expires; 0 once expired. */
export function proxyTimeLeftMs(info: { notAfter: Date }, now: Date = new Date()): number {
  return Math.max(0, info.notAfter.getTime() - now.getTime())
}

/** VOMS AC sequence extension of a proxy certificate. */
export const OID_VOMS_AC_SEQUENCE = '1.3.6.1.4.1.8005.100.100.5'
/** The VOMS attribute (IetfAttrSyntax holding the FQANs) inside an attribute certificate. */
export const OID_VOMS_ATTRIBUTE = '1.3.6.1.4.1.8005.100.100.4'

/**
 * FQANs of the VOMS attribute certificates embedded in a proxy certificate, in order. The AC's signature
 * and validity are not checked: use this to label a credential, not to authorise with it.
 */
export function vomsFqansOf(cert: Cert): string[] {
  const ext = cert.extensions.find((e) => e.oid === OID_VOMS_AC_SEQUENCE)
  if (ext === undefined) return []
  const fqans: string[] = []
  try {
    collectVomsAttributes(readDer(ext.value), fqans, 0)
  } catch (err) {
    // A malformed AC sequence carries no usable FQANs; the proxy itself stays usable.
    void err
    return []
  }
  return fqans
}

/**
 * Finds the VOMS attributes (`SEQUENCE { OID 1.3.6.1.4.1.8005.100.100.4, SET OF IetfAttrSyntax }`) wherever
 * they sit in the AC sequence, to a bounded depth, with no schema for the ACs around them: FQANs only label
 * the credential, so a layout an AC schema would refuse still yields them.
 */
function collectVomsAttributes(node: Asn1Block, out: string[], depth: number): void {
  const children = childrenOf(node)
  if (!node.idBlock.isConstructed || depth > 12) return
  const [first, second] = children
  const isVomsAttribute =
    node instanceof Sequence &&
    first instanceof ObjectIdentifier &&
    first.valueBlock.toString() === OID_VOMS_ATTRIBUTE &&
    second?.idBlock.isConstructed === true
  if (isVomsAttribute) {
    // values: SET OF IetfAttrSyntax ::= SEQUENCE { policyAuthority [0] OPTIONAL, values SEQUENCE OF CHOICE }
    for (const syntax of childrenOf(second)) {
      const values = childrenOf(syntax).find((v) => v instanceof Sequence)
      if (values === undefined) continue
      for (const v of childrenOf(values)) {
        const isOid = v.idBlock.tagNumber === 6
        if (!v.idBlock.isConstructed && !isOid) out.push(contentOf(v).toString('utf8'))
      }
    }
    return
  }
  for (const child of children) collectVomsAttributes(child, out, depth + 1)
}
