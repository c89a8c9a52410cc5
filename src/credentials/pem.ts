/**
 * PEM armour: the `-----BEGIN ...-----` blocks that grid files hold (certificates, keys, CRLs, requests),
 * their DER bytes, and the split of a bundle such as a proxy file into certificates and private keys.
 */

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
