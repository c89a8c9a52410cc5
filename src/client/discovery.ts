/**
 * Which credential a client presents, found the way grid tools find it, in this order (the Python client,
 * clients/python/aso_client.py, follows the same order and labels):
 *
 * 1. explicit options: `--token-file`, else `--cert`/`--key`, else `--proxy`;
 * 2. a bearer token by WLCG Bearer Token Discovery: `$BEARER_TOKEN`, `$BEARER_TOKEN_FILE`,
 *    `$XDG_RUNTIME_DIR/bt_u<uid>`, `/tmp/bt_u<uid>` (a missing file or an empty token: the next place);
 * 3. the X.509 proxy: `$X509_USER_PROXY` (taken at its word), else `/tmp/x509up_u<uid>` when it exists;
 * 4. the user certificate: `$X509_USER_CERT`/`$X509_USER_KEY` (taken at their word), else
 *    `~/.globus/usercert.pem` and `userkey.pem` when the certificate exists.
 *
 * Nothing here verifies a credential; the caller reads it. Paths (home, /tmp, uid) are injectable for tests.
 */
import { readFile, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { AsoError } from '../domain/errors.js'

export type DiscoveredCredential =
  | { kind: 'token'; token: string; from: string; path?: string }
  | { kind: 'proxy'; path: string; from: string }
  | { kind: 'certificate'; cert: string; key: string; from: string }

export interface DiscoveryOptions {
  tokenFile?: string
  cert?: string
  key?: string
  proxy?: string
  env?: NodeJS.ProcessEnv
  /** default: the process's */
  uid?: number
  /** default: $HOME, else the account's home */
  home?: string
  /** default: /tmp */
  tmpDir?: string
}

const ADVICE =
  'make a proxy (voms-proxy-init), get a token (e.g. into $BEARER_TOKEN_FILE), or give --token-file, --proxy or --cert/--key'

function set(v: string | undefined): v is string {
  return v !== undefined && v !== ''
}

/** A file's text, or null when it does not exist; other failures (permissions) say which file. */
async function readIfThere(path: string, what: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw new AsoError('unauthenticated', `cannot read the ${what} ${path}: ${(e as Error).message}`)
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}

/** The credential to present, in the order above; AsoError('unauthenticated') naming every place tried. */
export async function discoverCredential(o: DiscoveryOptions = {}): Promise<DiscoveredCredential> {
  const env = o.env ?? process.env
  const uid = o.uid ?? process.getuid?.() ?? 0
  const home = o.home ?? (set(env.HOME) ? env.HOME : homedir())
  const tmp = o.tmpDir ?? '/tmp'

  if (o.tokenFile !== undefined) {
    const text = await readIfThere(o.tokenFile, 'token file')
    if (text === null) throw new AsoError('unauthenticated', `the token file ${o.tokenFile} does not exist`)
    const token = text.trim()
    if (token === '')
      throw new AsoError('unauthenticated', `the token file ${o.tokenFile} is empty: get a new token`)
    return { kind: 'token', token, from: '--token-file', path: o.tokenFile }
  }
  if (o.cert !== undefined || o.key !== undefined) {
    if (o.cert === undefined || o.key === undefined)
      throw new AsoError('usage', '--cert and --key go together: give both, or use --proxy')
    return { kind: 'certificate', cert: o.cert, key: o.key, from: '--cert/--key' }
  }
  if (o.proxy !== undefined) return { kind: 'proxy', path: o.proxy, from: '--proxy' }

  const tried: string[] = []
  const bearer = env.BEARER_TOKEN?.trim()
  if (set(bearer)) return { kind: 'token', token: bearer, from: '$BEARER_TOKEN' }
  tried.push('$BEARER_TOKEN')
  const tokenFiles: [string, string][] = []
  if (set(env.BEARER_TOKEN_FILE)) tokenFiles.push([env.BEARER_TOKEN_FILE, '$BEARER_TOKEN_FILE'])
  if (set(env.XDG_RUNTIME_DIR))
    tokenFiles.push([join(env.XDG_RUNTIME_DIR, `bt_u${uid}`), '$XDG_RUNTIME_DIR/bt_u<uid>'])
  tokenFiles.push([join(tmp, `bt_u${uid}`), '/tmp/bt_u<uid>'])
  for (const [path, from] of tokenFiles) {
    const token = (await readIfThere(path, 'bearer token file'))?.trim()
    if (set(token)) return { kind: 'token', token, from, path }
    tried.push(path)
  }

  if (set(env.X509_USER_PROXY)) return { kind: 'proxy', path: env.X509_USER_PROXY, from: '$X509_USER_PROXY' }
  const proxy = join(tmp, `x509up_u${uid}`)
  if (await exists(proxy)) return { kind: 'proxy', path: proxy, from: '/tmp/x509up_u<uid>' }
  tried.push(proxy)

  if (set(env.X509_USER_CERT) || set(env.X509_USER_KEY)) {
    const cert = set(env.X509_USER_CERT) ? env.X509_USER_CERT : join(home, '.globus', 'usercert.pem')
    const key = set(env.X509_USER_KEY) ? env.X509_USER_KEY : join(home, '.globus', 'userkey.pem')
    return { kind: 'certificate', cert, key, from: '$X509_USER_CERT/$X509_USER_KEY' }
  }
  const cert = join(home, '.globus', 'usercert.pem')
  if (await exists(cert))
    return { kind: 'certificate', cert, key: join(home, '.globus', 'userkey.pem'), from: '~/.globus' }
  tried.push(cert)
  throw new AsoError('unauthenticated', `no credential found (tried ${tried.join(', ')}): ${ADVICE}`)
}
