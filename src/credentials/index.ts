export { makeProxyCsr, type ParsedCsr, parseCsr } from './csr.js'
export {
  assembleProxyFile,
  checkDelegatedChain,
  type DelegatedChainCheck,
  type ProxySigner,
  signProxyFromCsr,
} from './delegation.js'
export {
  type DnAttribute,
  formatCommaDn,
  formatSlashDn,
  isIssuerPlusOneCn,
  type Rdn,
  sameName,
} from './dn.js'
export type { CertExtension, KeyUsageName } from './extensions.js'
export { derToPem, type PemBlock, pemBlocks, type SplitPem, splitPem } from './pem.js'
export { OID_PROXY_CERT_INFO, type ProxyCertInfo } from './proxy-cert-info.js'
export {
  credentialPath,
  defaultProxyPath,
  type ProxyInfo,
  parseProxyPem,
  proxyTimeLeftMs,
  readProxyFile,
  vomsFqansOf,
} from './proxy-file.js'
export { loadTrustStore, type TrustStore } from './trust-store.js'
export {
  type ChainVerification,
  peerChain,
  verifyChain,
  verifyChainSync,
  verifyPeer,
} from './verify-chain.js'
export { type Cert, endEntityIndex, parseCert, parseCertBundle } from './x509.js'
