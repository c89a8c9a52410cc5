/**
 * HTTP(S) connections to storage endpoints (WebDAV, HTTP-TPC): one undici Agent per endpoint origin and client
 * credential, so connections are reused across files; TLS trusts the CA directory of the endpoint's site
 * (`X509_CERT_DIR` style), and the user's proxy is the client certificate.
 */
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { Agent, type Dispatcher, request } from 'undici'
import { loadTrustStore, splitPem } from '../../credentials/index.js'
import type { TransferCredentials } from '../protocol.js'
import { StorageError } from '../protocol.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

/** Where grid CA certificates live when neither the site nor X509_CERT_DIR says. */
const GRID_CA_DIR = '/etc/grid-security/certificates'

export interface HttpRequest {
  method: string
  headers?: Record<string, string>
  body?: Dispatcher.DispatchOptions['body']
  signal?: AbortSignal
  credentials?: TransferCredentials
  /** which end the URL is, for the scope of a connection failure */
  scope: Scope
  /** how long to wait for the answer's headers (default: the clients' silence timeout) */
  headersTimeoutMs?: number
}

export type HttpResponse = Dispatcher.ResponseData

/** The site fields that say how to trust a site's HTTPS endpoints. */
export interface SiteTls {
  caDir?: string
  protocols: readonly { scheme: string; prefix?: string; rules?: readonly { pfn: string }[] }[]
}

/** `davs://h/p` -> `https://h/p`, `dav://` -> `http://`; other URLs unchanged. */
export function toHttpUrl(url: string): string {
  if (url.startsWith('davs://')) return `https://${url.slice('davs://'.length)}`
  if (url.startsWith('dav://')) return `http://${url.slice('dav://'.length)}`
  return url
}

function originOf(url: string): string | null {
  try {
    return new URL(toHttpUrl(url)).origin
  } catch (err) {
    // a PFN template that is not a URL (e.g. `$1` in the host) names no origin
    void err
    return null
  }
}

/** A network or TLS failure as a storage error, in the words the classifier knows (curl's). */
export function connectionFailure(err: unknown, scope: Scope, what: string): StorageError {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } }
  const code = e.cause?.code ?? e.code ?? ''
  const text = e.cause?.message ?? e.message ?? String(err)
  const at = ` (${what})`
  if (code === 'ECONNREFUSED') return new StorageError(scope, 111, `Connection refused${at}`)
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
    return new StorageError(scope, 104, `Connection reset: ${text}${at}`)
  if (/TIMEOUT/.test(code)) return new StorageError(scope, 110, `Connection timed out: ${text}${at}`)
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL/.test(code) || /certificate/i.test(text)) {
    return new StorageError(scope, 5, `SSL certificate problem: ${text}${at}`)
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
    return new StorageError(scope, 113, `Could not resolve host${at}`)
  return new StorageError(scope, 5, `${text}${at}`)
}

export interface HttpClientsOptions {
  /** the CA directory for origins without one of their own (default: X509_CERT_DIR, the grid default) */
  caDir?: string
  connectionsPerOrigin?: number
  /** a request whose answer stays silent this long fails (default 60 s for headers, 120 s within a body) */
  silenceTimeoutMs?: number
  /** checksum requests (`Want-Digest`) at once per origin (default 4) */
  digestsPerOrigin?: number
}

/** A first-come first-served limit on concurrent calls. */
class Gate {
  private free: number
  private readonly waiting: (() => void)[] = []

  constructor(capacity: number) {
    this.free = capacity
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--
    else await new Promise<void>((resolve) => this.waiting.push(resolve))
    try {
      return await fn()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.free++
    }
  }
}

interface AgentEntry {
  agent: Promise<Agent>
  /** the proxy file's mtime when the agent was made, to notice a renewed proxy */
  proxyMtimeMs: number
}

/** HTTP clients for storage, shared by the HTTP methods and the `davs`/`https` protocol handler. */
export class HttpClients {
  private readonly caDirs = new Map<string, string>()
  private readonly agents = new Map<string, AgentEntry>()
  private readonly caPems = new Map<string, Promise<string[] | undefined>>()
  private readonly digestGates = new Map<string, Gate>()

  constructor(private readonly opts: HttpClientsOptions = {}) {}

  /** Trusts the CAs of `caDir` for every request to the origin of `url` (https://host:port, davs://…). */
  trust(url: string, caDir: string): void {
    this.caDirs.set(new URL(toHttpUrl(url)).origin, caDir)
  }

  /** Trusts each site's CA directory for the HTTPS origins of its protocols. */
  trustSites(sites: Readonly<Record<string, SiteTls>>): void {
    for (const site of Object.values(sites)) {
      if (!site.caDir) continue
      for (const p of site.protocols) {
        const templates = [p.prefix, ...(p.rules ?? []).map((r) => r.pfn)]
        for (const t of templates) {
          const origin = t === undefined ? null : originOf(t)
          if (origin?.startsWith('https:')) this.caDirs.set(origin, site.caDir)
        }
      }
    }
  }

  /** The CA directory for a URL: its site's, else X509_CERT_DIR, else the grid default if present. */
  caDirFor(url: string): string | undefined {
    const origin = originOf(url)
    const own = origin ? this.caDirs.get(origin) : undefined
    if (own) return own
    if (this.opts.caDir) return this.opts.caDir
    if (process.env.X509_CERT_DIR) return process.env.X509_CERT_DIR
    return existsSync(GRID_CA_DIR) ? GRID_CA_DIR : undefined
  }

  /** Sends one request; throws a StorageError for a network or TLS failure, never for an HTTP status. */
  async send(url: string, req: HttpRequest): Promise<HttpResponse> {
    if (!req.headers?.['Want-Digest']) return this.sendNow(url, req)
    // XrdHttp 5.5 computes a digest in one of a few checksum slots; with more requests than slots while
    // COPYs run, some never answer (measured: 16 at once stall, 4 at once do not)
    const origin = new URL(toHttpUrl(url)).origin
    let gate = this.digestGates.get(origin)
    if (!gate) {
      gate = new Gate(this.opts.digestsPerOrigin ?? 4)
      this.digestGates.set(origin, gate)
    }
    // digests are asked with HEAD, whose answer is complete with its headers
    return gate.run(() => this.sendNow(url, req))
  }

  private async sendNow(url: string, req: HttpRequest): Promise<HttpResponse> {
    const target = toHttpUrl(url)
    // XrdHttp matches some header names case-sensitively (Want-Digest, Content-Length): keep the usual case
    const headers: Record<string, string> = { ...req.headers }
    if (req.credentials?.token) headers.Authorization = `Bearer ${req.credentials.token}`
    try {
      const dispatcher = await this.dispatcher(target, req.credentials, req.scope)
      return await request(target, {
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.body,
        signal: req.signal,
        dispatcher,
        // undici closes the connection after every HEAD unless told not to: a TLS handshake per file, and
        // XrdHttp 5.5 (HEAD with Want-Digest on a connection closed at once, between COPYs) then stops
        // answering after a few hundred files; XrdHttp sends no body on HEAD, so keeping it is safe
        reset: req.method === 'HEAD' ? false : undefined,
        headersTimeout: req.headersTimeoutMs,
      })
    } catch (err) {
      if (err instanceof StorageError) throw err
      if (req.signal?.aborted) throw new StorageError('TRANSFER', 125, 'Transfer aborted')
      throw connectionFailure(err, req.scope, `${req.method} ${target}`)
    }
  }

  async close(): Promise<void> {
    const entries = [...this.agents.values()]
    this.agents.clear()
    await Promise.all(
      entries.map((e) =>
        e.agent.then(
          (a) => a.close(),
          () => undefined,
        ),
      ),
    )
  }

  private async dispatcher(url: string, cred: TransferCredentials | undefined, scope: Scope): Promise<Agent> {
    const proxy = cred?.proxyPath
    const key = `${new URL(url).origin}\n${proxy ?? ''}`
    const mtime = proxy
      ? await stat(proxy).then(
          (s) => s.mtimeMs,
          () => -1,
        )
      : 0
    const entry = this.agents.get(key)
    if (entry && entry.proxyMtimeMs === mtime) return entry.agent
    const agent = this.newAgent(url, proxy, scope)
    this.agents.set(key, { agent, proxyMtimeMs: mtime })
    agent.catch(() => {
      // a failed setup (unreadable proxy or CA directory) is tried again by the next request
      if (this.agents.get(key)?.agent === agent) this.agents.delete(key)
    })
    // a renewed proxy needs new TLS sessions: the old agent finishes its requests, then closes
    if (entry)
      void entry.agent.then(
        (a) => a.close(),
        () => undefined,
      )
    return agent
  }

  private async newAgent(url: string, proxy: string | undefined, scope: Scope): Promise<Agent> {
    const ca = url.startsWith('https:') ? await this.caPemsFor(this.caDirFor(url), scope) : undefined
    let cert: string | undefined
    let key: string | undefined
    if (proxy) {
      let text: string
      try {
        text = await readFile(proxy, 'utf8')
      } catch (err) {
        throw new StorageError(scope, 13, `cannot read the user's proxy ${proxy}: ${(err as Error).message}`)
      }
      const pem = splitPem(text)
      if (pem.certificates.length === 0 || pem.privateKeys.length === 0) {
        throw new StorageError(scope, 13, `the user's proxy ${proxy} holds no certificate and key`)
      }
      // the proxy first, then the certificates that sign it: the server needs the whole chain
      cert = pem.certificates.join('')
      key = pem.privateKeys[0]
    }
    return new Agent({
      connections: this.opts.connectionsPerOrigin ?? 64,
      keepAliveTimeout: 30_000,
      // a COPY answers at once and then sends a performance marker every few seconds: silence is a hang
      headersTimeout: this.opts.silenceTimeoutMs ?? 60_000,
      bodyTimeout: this.opts.silenceTimeoutMs ?? 120_000,
      connect: { ca, cert, key },
    })
  }

  private caPemsFor(caDir: string | undefined, scope: Scope): Promise<string[] | undefined> {
    if (!caDir) return Promise.resolve(undefined)
    let pems = this.caPems.get(caDir)
    if (!pems) {
      pems = loadTrustStore(caDir).then(
        (store) => store.cas.map((c) => c.pem),
        (err: Error) => {
          this.caPems.delete(caDir)
          throw new StorageError(scope, 5, `SSL certificate problem: ${err.message}`)
        },
      )
      this.caPems.set(caDir, pems)
    }
    return pems
  }
}

/** The clients the default methods and handler share; `buildEngines` tells it the sites' CA directories. */
export const httpClients = new HttpClients()
