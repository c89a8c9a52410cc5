/**
 * What a client presents to an ASO server, found the way grid tools find it (discovery.ts): explicit options;
 * else a bearer token by WLCG discovery; else the X.509 proxy; else the user certificate and key. The server is
 * checked against `--ca-dir`, `$X509_CERT_DIR`, else `/etc/grid-security/certificates`. Plain `http://`
 * servers (`aso serve --insecure-dev`) get a username.
 */
import { readFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { derToPem, loadTrustStore, readProxyFile } from '../credentials/index.js'
import { AsoError } from '../domain/errors.js'
import type { ClientAuth } from './client.js'
import { type DiscoveryOptions, discoverCredential } from './discovery.js'

export interface CredentialOptions extends DiscoveryOptions {
  caDir?: string
}

export const DEFAULT_CA_DIR = '/etc/grid-security/certificates'

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    throw new AsoError('unauthenticated', `cannot read the ${what} ${path}: ${(e as Error).message}`)
  }
}

/** The credentials to reach `server` with. */
export async function loadClientAuth(server: string, o: CredentialOptions = {}): Promise<ClientAuth> {
  const env = o.env ?? process.env
  if (server.startsWith('http://')) {
    return { user: env.ASO_USER ?? userInfo().username }
  }
  const caDir = o.caDir ?? env.X509_CERT_DIR ?? DEFAULT_CA_DIR
  const ca = (await loadTrustStore(caDir)).cas.map((c) => derToPem(c.der))
  const found = await discoverCredential({ ...o, env })
  if (found.kind === 'token') return { ca, token: found.token }
  if (found.kind === 'certificate') {
    const key = await readText(found.key, `key (${found.from})`)
    if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key)) {
      throw new AsoError(
        'unauthenticated',
        `the key ${found.key} is protected by a passphrase: make a proxy with voms-proxy-init and use it (X509_USER_PROXY or --proxy)`,
      )
    }
    return { ca, cert: await readText(found.cert, `certificate (${found.from})`), key }
  }
  const proxy = await readProxyFile(found.path)
  return { ca, cert: proxy.chain.map((c) => derToPem(c.der)).join(''), key: proxy.key }
}
