/**
 * What a STOMP connection needs besides the URL: for TLS the CA directory the broker's certificate is checked
 * against and an optional client certificate; a login and a password file. Checked when the connection is set
 * up (a bad setting refuses to start), and read again at every connection (renewed certificates, a changed
 * password).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
import { loadTrustStore } from '../credentials/index.js'
import { AsoError } from '../domain/errors.js'
import { parseStompUrl, type StompEndpoint } from './url.js'

export interface StompSettings {
  /** `stomp://[user:password@]host:port` or `stomp+ssl://…` (also `tcp://`, `ssl://`) */
  url: string
  /** TLS: trusted CAs (`X509_CERT_DIR` style); default $X509_CERT_DIR, else /etc/grid-security/certificates */
  caDir?: string
  /** TLS: client certificate (PEM file, may hold the chain), with `key` */
  cert?: string
  key?: string
  /** login, instead of the user in the URL */
  username?: string
  /** a file holding the password (first line), instead of the password in the URL */
  passwordFile?: string
}

/** How the settings are named where they came from (config keys or command-line flags), for error messages. */
export type StompFieldNames = Record<keyof StompSettings, string>

export const CONFIG_FIELD_NAMES: StompFieldNames = {
  url: 'fts3.stomp.url',
  caDir: 'fts3.stomp.caDir',
  cert: 'fts3.stomp.cert',
  key: 'fts3.stomp.key',
  username: 'fts3.stomp.username',
  passwordFile: 'fts3.stomp.passwordFile',
}

/** Where grid CA certificates live when neither the settings nor X509_CERT_DIR say. */
export const GRID_CA_DIR = '/etc/grid-security/certificates'

/** The settings checked against each other, with their defaults. */
export interface StompTarget {
  endpoint: StompEndpoint
  /** present exactly when the URL asks for TLS */
  tls?: { caDir: string; cert?: string; key?: string }
  login?: string
  /** the password of the URL */
  passcode?: string
  passwordFile?: string
  names: StompFieldNames
}

/** The CA directory, client certificate and login as STOMP's CONNECT and node:tls take them. */
export interface StompCredentials {
  /** PEM CA certificates; present for TLS */
  ca?: string[]
  cert?: string
  key?: string
  connectHeaders: Record<string, string>
}

const invalid = (field: string, message: string, cause?: unknown): AsoError =>
  new AsoError('invalid-config', `${field}: ${message}`, { field, ...(cause ? { cause } : {}) })

const reason = (err: unknown): string =>
  (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))

/**
 * Checks the settings against each other (no file is read); throws an AsoError naming the setting and the fix.
 * TLS settings with a plain URL are refused: a connection asked for TLS is TLS or nothing.
 */
export function stompTarget(
  s: StompSettings,
  names: StompFieldNames = CONFIG_FIELD_NAMES,
  env: NodeJS.ProcessEnv = process.env,
): StompTarget {
  const endpoint = parseStompUrl(s.url, names.url)
  if (!endpoint.tls) {
    const given = (['caDir', 'cert', 'key'] as const).filter((k) => s[k] !== undefined)
    if (given.length > 0) {
      throw invalid(
        names.url,
        `${given.map((k) => names[k]).join(', ')} ${given.length > 1 ? 'are' : 'is'} for STOMP over TLS but ${endpoint.display} is plain: use stomp+ssl://${endpoint.host}:PORT (the broker's TLS port), or drop ${given.length > 1 ? 'them' : 'it'}`,
      )
    }
  }
  if ((s.cert === undefined) !== (s.key === undefined)) {
    const [has, lacks] = s.cert === undefined ? (['key', 'cert'] as const) : (['cert', 'key'] as const)
    throw invalid(
      names[lacks],
      `missing: ${names[has]} is given, and a client certificate needs both the certificate (${names.cert}) and its private key (${names.key})`,
    )
  }
  if (s.username !== undefined && endpoint.login !== undefined)
    throw invalid(names.username, `the URL ${names.url} names a user too: give the user in one place only`)
  if (s.passwordFile !== undefined && endpoint.passcode)
    throw invalid(
      names.passwordFile,
      `the URL ${names.url} holds a password too: keep it in the file only (a URL ends up in logs)`,
    )
  const login = s.username ?? endpoint.login
  if (s.passwordFile !== undefined && login === undefined)
    throw invalid(names.passwordFile, `a password needs a user: set ${names.username} too`)
  return {
    endpoint,
    ...(endpoint.tls
      ? {
          tls: {
            caDir: s.caDir ?? env.X509_CERT_DIR ?? GRID_CA_DIR,
            ...(s.cert !== undefined && s.key !== undefined ? { cert: s.cert, key: s.key } : {}),
          },
        }
      : {}),
    ...(login !== undefined ? { login } : {}),
    ...(endpoint.passcode ? { passcode: endpoint.passcode } : {}),
    ...(s.passwordFile !== undefined ? { passwordFile: s.passwordFile } : {}),
    names,
  }
}

/** Files OpenSSL's hashed CA directories hold certificates in (as the trust store reads them). */
const CA_FILE = /\.(\d+|pem)$/

function readText(file: string, field: string, what: string): string {
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    throw invalid(field, `cannot read ${file} (${reason(err)}): give the path of ${what}`, err)
  }
}

/** One line; the newline an editor adds is not part of the password. */
const firstLine = (text: string): string => text.replace(/\r?\n$/, '')

/**
 * Reads every file the target names, now: the CA directory holds CA files, the client certificate and key
 * go together, the password file is readable. Throws an AsoError naming the setting, so that a process asked
 * for TLS with unusable settings refuses to start instead of retrying in the background.
 */
export function checkStompFiles(t: StompTarget): void {
  const { names } = t
  if (t.tls) {
    const { caDir } = t.tls
    let entries: string[]
    try {
      entries = readdirSync(caDir)
    } catch (err) {
      throw invalid(
        names.caDir,
        `cannot read the CA directory ${caDir} (${reason(err)}): set ${names.caDir} (or X509_CERT_DIR) to a folder of trusted CA certificates (<hash>.0 or *.pem files)`,
        err,
      )
    }
    if (!entries.some((n) => CA_FILE.test(n)))
      throw invalid(
        names.caDir,
        `the CA directory ${caDir} holds no CA certificate (<hash>.0 or *.pem files): install the CA that issued the broker's certificate there, or point ${names.caDir} to the right folder`,
      )
    if (t.tls.cert !== undefined && t.tls.key !== undefined) {
      const cert = readText(t.tls.cert, names.cert, 'the client certificate (PEM)')
      const key = readText(t.tls.key, names.key, 'the client certificate\u2019s private key (PEM)')
      try {
        createSecureContext({ cert, key })
      } catch (err) {
        throw invalid(
          names.key,
          `${t.tls.key} is not the private key of ${t.tls.cert} (${err instanceof Error ? err.message : String(err)}): give the certificate and key of one credential, unencrypted PEM`,
          err,
        )
      }
    }
  }
  if (t.passwordFile !== undefined)
    readText(t.passwordFile, names.passwordFile, 'a file holding the broker password')
}

/** How long a loaded CA directory is reused (fetch-crl and CA updates change it rarely). */
const CA_REUSE_MS = 5 * 60_000
const caCache = new Map<string, { at: number; pems: string[] }>()

/** The CA certificates of `caDir` as PEM, through the trust store loader, reused for a few minutes. */
async function caPems(caDir: string, field: string): Promise<string[]> {
  const known = caCache.get(caDir)
  if (known && Date.now() - known.at < CA_REUSE_MS) return known.pems
  let pems: string[]
  try {
    pems = (await loadTrustStore(caDir)).cas.map((c) => c.pem)
  } catch (err) {
    throw invalid(field, err instanceof Error ? err.message : String(err), err)
  }
  caCache.set(caDir, { at: Date.now(), pems })
  return pems
}

async function readAsync(file: string, field: string, what: string): Promise<string> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    throw invalid(field, `cannot read ${file} (${reason(err)}): give the path of ${what}`, err)
  }
}

/** Reads what one connection needs (CA certificates, client certificate, password); throws an AsoError. */
export async function loadStompCredentials(t: StompTarget): Promise<StompCredentials> {
  const { names } = t
  const password =
    t.passwordFile !== undefined
      ? firstLine(await readAsync(t.passwordFile, names.passwordFile, 'a file holding the broker password'))
      : t.passcode
  const connectHeaders: Record<string, string> =
    t.login !== undefined ? { login: t.login, passcode: password ?? '' } : {}
  if (!t.tls) return { connectHeaders }
  const [ca, cert, key] = await Promise.all([
    caPems(t.tls.caDir, names.caDir),
    t.tls.cert === undefined ? undefined : readAsync(t.tls.cert, names.cert, 'the client certificate (PEM)'),
    t.tls.key === undefined
      ? undefined
      : readAsync(t.tls.key, names.key, 'the client certificate\u2019s private key (PEM)'),
  ])
  return {
    ca,
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
    connectHeaders,
  }
}
