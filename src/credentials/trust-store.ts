/**
 * The trusted CAs of an `X509_CERT_DIR` style directory (IGTF layout: `<hash>.0` certificates, `<hash>.r0`
 * CRLs, `.namespaces` / `.signing_policy` files), loaded once and handed to chain verification.
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { AsoError } from '../domain/errors.js'
import { type CaDirectoryPolicy, type CaFile, loadCaDirectoryPolicy } from './ca-directory.js'
import { errorText } from './messages.js'
import { type Cert, parseCertBundle } from './x509.js'

export interface TrustStore {
  dir: string
  /** every CA certificate found in the directory, deduplicated */
  cas: Cert[]
  /** CRLs and namespace policies of the directory (absent: none applied) */
  policy?: CaDirectoryPolicy
}

/** Files OpenSSL's hashed CA directories hold certificates in: `<hash>.0` (.1, ...) and `*.pem`. */
const CA_FILE = /\.(\d+|pem)$/

/**
 * Loads every CA certificate of an `X509_CERT_DIR` style directory. Files that are not certificates
 * (`.signing_policy`, `.namespaces`, CRLs) are skipped. Throws when the directory is missing or holds no CA.
 */
export async function loadTrustStore(caDir: string): Promise<TrustStore> {
  let names: string[]
  try {
    names = await readdir(caDir)
  } catch (err) {
    throw new AsoError(
      'invalid-config',
      `cannot read the CA directory ${caDir} (${errorText(err)}): set X509_CERT_DIR or the configured CA ` +
        'directory to a folder of trusted CA certificates (<hash>.0 or *.pem files)',
      { cause: err },
    )
  }
  const cas: Cert[] = []
  const caFiles: CaFile[] = []
  const seen = new Set<string>()
  for (const name of names.sort()) {
    if (!CA_FILE.test(name)) continue
    const path = join(caDir, name)
    let text: string
    try {
      if (!(await stat(path)).isFile()) continue
      text = await readFile(path, 'utf8')
    } catch (err) {
      // An unreadable or vanished file is one CA fewer; the chain check reports an unknown CA if it mattered.
      void err
      continue
    }
    let certs: Cert[]
    try {
      certs = parseCertBundle(text, path)
    } catch (err) {
      // Not a certificate after all (IGTF dirs hold other files too); skip it like OpenSSL does.
      void err
      continue
    }
    caFiles.push({ name, certs })
    for (const cert of certs) {
      const key = cert.der.toString('base64')
      if (seen.has(key)) continue
      seen.add(key)
      cas.push(cert)
    }
  }
  if (cas.length === 0) {
    throw new AsoError(
      'invalid-config',
      `the CA directory ${caDir} holds no CA certificate (<hash>.0 or *.pem files): install the CA ` +
        'certificates there or point X509_CERT_DIR to the right folder',
    )
  }
  return { dir: caDir, cas, policy: await loadCaDirectoryPolicy(caDir, names, caFiles) }
}
