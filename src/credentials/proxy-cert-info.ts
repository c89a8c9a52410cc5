/**
 * RFC 3820's proxyCertInfo extension, which makes a certificate a proxy: how many proxies may follow it
 * (pCPathLenConstraint) and under which policy language it stands for its issuer. The pre-RFC Globus (GT3)
 * draft of it, under its own OID, is still found in old middleware; one schema reads both layouts.
 */
import { AsnProp, AsnPropTypes } from '@peculiar/asn1-schema'
import { parseDer } from './der.js'

export const OID_PROXY_CERT_INFO = '1.3.6.1.5.5.7.1.14'
/** The pre-RFC (GT3 draft) proxyCertInfo, still found in old middleware. */
export const OID_PROXY_CERT_INFO_DRAFT = '1.3.6.1.4.1.3536.1.222'
/** Policy languages: the proxy has all its issuer's rights, none of them, or a Globus "limited" subset. */
export const OID_PPL_INHERIT_ALL = '1.3.6.1.5.5.7.21.1'
export const OID_PPL_INDEPENDENT = '1.3.6.1.5.5.7.21.2'
export const OID_PPL_LIMITED = '1.3.6.1.4.1.3536.1.1.1.9'

export interface ProxyCertInfo {
  /** which extension carried it: RFC 3820 or the GT3 draft */
  oid: string
  /** pCPathLenConstraint: how many proxies may follow; absent = unlimited */
  pathLen?: number
  /** policy language OID, e.g. inheritAll 1.3.6.1.5.5.7.21.1 */
  policyLanguage: string
}

/** ProxyPolicy ::= SEQUENCE { policyLanguage OBJECT IDENTIFIER, policy OCTET STRING OPTIONAL } */
export class ProxyPolicy {
  policyLanguage = ''
  policy?: ArrayBuffer
  constructor(params: Partial<ProxyPolicy> = {}) {
    Object.assign(this, params)
  }
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(ProxyPolicy.prototype, 'policyLanguage')
AsnProp({ type: AsnPropTypes.OctetString, optional: true })(ProxyPolicy.prototype, 'policy')

/**
 * RFC 3820: SEQUENCE { pCPathLenConstraint INTEGER OPTIONAL, proxyPolicy ProxyPolicy }.
 * GT3 draft: SEQUENCE { proxyPolicy ProxyPolicy, pCPathLenConstraint [1] EXPLICIT INTEGER OPTIONAL }.
 */
export class ProxyCertInfoValue {
  pathLen?: number
  proxyPolicy = new ProxyPolicy()
  draftPathLen?: number
  constructor(params: Partial<ProxyCertInfoValue> = {}) {
    Object.assign(this, params)
  }
}
AsnProp({ type: AsnPropTypes.Integer, optional: true })(ProxyCertInfoValue.prototype, 'pathLen')
AsnProp({ type: ProxyPolicy })(ProxyCertInfoValue.prototype, 'proxyPolicy')
AsnProp({ type: AsnPropTypes.Integer, context: 1, optional: true })(
  ProxyCertInfoValue.prototype,
  'draftPathLen',
)

export function isProxyCertInfoOid(oid: string): boolean {
  return oid === OID_PROXY_CERT_INFO || oid === OID_PROXY_CERT_INFO_DRAFT
}

/** Reads the extension's value (the DER inside its OCTET STRING); `oid` says which of the two it was. */
export function parseProxyCertInfo(oid: string, value: Uint8Array): ProxyCertInfo {
  const info = parseDer(value, ProxyCertInfoValue)
  const policyLanguage = info.proxyPolicy.policyLanguage
  // The integer converter gives a string past 31 bits; Number() reads both.
  const pathLen = info.draftPathLen ?? info.pathLen
  return pathLen === undefined ? { oid, policyLanguage } : { oid, pathLen: Number(pathLen), policyLanguage }
}
