/**
 * What a client presents to an ASO server, found the way grid tools find it: a bearer token file when given;
 * else a certificate and key when given; else the X.509 proxy (`--proxy`, `$X509_USER_PROXY`, else
 * `/tmp/x509up_u<uid>`). The server is checked against `--ca-dir`, `$X509_CERT_DIR`, else
 * `/etc/grid-security/certificates`. Plain `http://` servers (`aso serve --insecure-dev`) get a username.
 */
import { readFile } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { defaultProxyPath, derToPem, loadTrustStore, readProxyFile } from '../credentials/index.js'
import { AsoError } from '../domain/errors.js'
import type { ClientAuth } from './client.js'

export interface CredentialOptions {
  proxy?: string
  cert?: string
  key?: string
  tokenFile?: string
  caDir?: string
  env?: NodeJS.ProcessEnv
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
  if (o.tokenFile !== undefined) {
    const token = (await readText(o.tokenFile, 'token file')).trim()
    if (token === '')
      throw new AsoError('unauthenticated', `the token file ${o.tokenFile} is empty: get a new token`)
    return { ca, token }
  }
  if (o.cert !== undefined || o.key !== undefined) {
    if (o.cert === undefined || o.key === undefined) {
      throw new AsoError('usage', '--cert and --key go together: give both, or use --proxy')
    }
    return { ca, cert: await readText(o.cert, 'certificate'), key: await readText(o.key, 'key') }
  }
  const proxy = await readProxyFile(o.proxy ?? defaultProxyPath(env))
  return { ca, cert: proxy.chain.map((c) => derToPem(c.der)).join(''), key: proxy.key }
}
