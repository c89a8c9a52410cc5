/**
 * PKCS#10 certificate requests as GridSite delegation uses them (docs/fts3-rest.md §4): the server makes a
 * key and a request for it, the client reads the request and signs a proxy for its public key. Read and
 * written with @peculiar/asn1-csr; keys and signatures stay with node:crypto.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto'
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr'
import { AsnConvert } from '@peculiar/asn1-schema'
import {
  AttributeTypeAndValue,
  AttributeValue,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
} from '@peculiar/asn1-x509'
import { AsoError } from '../domain/errors.js'
import { arrayBufferOf, derElements, parseDer, verbatim } from './der.js'
import { formatSlashDn, parseName } from './dn.js'
import { errorText } from './messages.js'
import { derToPem, pemBlocks } from './pem.js'
import { sha256SignatureAlgorithm, signatureHashOf } from './signature-algorithms.js'

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
    const csr = parseDer(block.der, CertificationRequest)
    if (csr.certificationRequestInfoRaw === undefined) throw new Error('a CSR has three parts')
    // The signature covers the request info as sent: its bytes are checked, and its key copied, unchanged.
    const infoDer = Buffer.from(csr.certificationRequestInfoRaw)
    const [, subjectDer, spkiDer] = derElements(infoDer)
    if (subjectDer === undefined || spkiDer === undefined) throw new Error('no public key')
    const subject = formatSlashDn(parseName(subjectDer))
    const publicKey = createPublicKey({ key: spkiDer, format: 'der', type: 'spki' })
    const algorithm = csr.signatureAlgorithm.algorithm
    const hash = signatureHashOf(algorithm)
    if (hash === undefined) throw new Error(`unsupported signature algorithm ${algorithm}`)
    const signature = Buffer.from(csr.signature)
    if (!verify(hash, infoDer, publicKey, signature)) throw new Error('its self-signature does not verify')
    return { subject, spkiDer, publicKey }
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
  const dummy = new AttributeTypeAndValue({
    type: '2.5.4.10', // O
    value: new AttributeValue({ printableString: 'Dummy' }),
  })
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name([new RelativeDistinguishedName([dummy])]),
    subjectPKInfo: parseDer(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    attributes: new Attributes(), // none
  })
  const infoDer = new Uint8Array(AsnConvert.serialize(info))
  const signatureAlgorithm = sha256SignatureAlgorithm(privateKey)
  const csr = new CertificationRequest({
    certificationRequestInfo: verbatim(infoDer),
    signatureAlgorithm,
    signature: arrayBufferOf(sign('sha256', infoDer, privateKey)),
  })
  return {
    csrPem: derToPem(Buffer.from(AsnConvert.serialize(csr)), 'CERTIFICATE REQUEST'),
    keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  }
}
