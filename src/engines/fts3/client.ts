/**
 * HTTP calls to FTS3 servers (docs/fts3-rest.md §0): one undici Agent per server and credential, so the user's
 * proxy is the TLS client certificate of its own connections (or a bearer token rides in `Authorization`);
 * the servers' certificates are checked against the CA directory; every call has a timeout. Answers are kept
 * raw (status, text, JSON when it is JSON): the callers decide which statuses they expect.
 */
import { Agent, type Dispatcher, request } from 'undici'
import { loadTrustStore } from '../../credentials/index.js'
import { errorMessageOf, Fts3HttpError, unreachable } from './errors.js'

/** Who a call is made as: a proxy chain and its key (TLS client auth), or a bearer token. */
export type ClientAuth =
  | { kind: 'certificate'; key: string; certPem: string; keyPem: string }
  | { kind: 'token'; key: string; token: string }

export interface Fts3Answer {
  status: number
  text: string
  /** the body parsed as JSON; undefined when it is not JSON (HTML pages, CSRs, empty bodies) */
  json: unknown
  contentType: string
}

export interface Fts3ClientOptions {
  /** directory of trusted CA certificates (`X509_CERT_DIR` style); absent: Node's default CAs */
  caDir?: string
  /** per call: no answer within this is a timeout */
  timeoutMs: number
}

const USER_AGENT = 'aso-fts3-engine/0.1'

export class Fts3Client {
  private readonly agents = new Map<string, { agent: Agent; lastUsed: number }>()
  private caPems: Promise<string[] | undefined> | undefined

  constructor(private readonly opts: Fts3ClientOptions) {}

  get timeoutMs(): number {
    return this.opts.timeoutMs
  }

  /** One call; resolves with whatever the server answered, rejects with Fts3UnreachableError when it did not. */
  async call(
    server: string,
    auth: ClientAuth,
    method: string,
    path: string,
    body?: { json?: unknown; text?: string; contentType?: string },
  ): Promise<Fts3Answer> {
    const url = new URL(path, server.endsWith('/') ? server : `${server}/`).toString()
    const what = `${method} ${url}`
    const headers: Record<string, string> = { 'user-agent': USER_AGENT, accept: 'application/json' }
    if (auth.kind === 'token') headers.authorization = `Bearer ${auth.token}`
    let payload: string | undefined
    if (body?.json !== undefined) {
      payload = JSON.stringify(body.json)
      headers['content-type'] = 'application/json'
    } else if (body?.text !== undefined) {
      payload = body.text
      headers['content-type'] = body.contentType ?? 'text/plain'
    }
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, {
        method: method as Dispatcher.HttpMethod,
        headers,
        body: payload,
        dispatcher: await this.agentFor(server, auth),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      })
    } catch (err) {
      throw unreachable(err, what, this.opts.timeoutMs)
    }
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      throw unreachable(err, what, this.opts.timeoutMs)
    }
    const contentType = String(res.headers['content-type'] ?? '')
    let json: unknown
    if (/json/i.test(contentType) || /^\s*[[{"]|^\s*(null|true|false)\s*$/.test(text)) {
      try {
        json = JSON.parse(text)
      } catch (err) {
        // announced as JSON but is not (a proxy's error page): callers see the text
        void err
        json = undefined
      }
    }
    return { status: res.statusCode, text, json, contentType }
  }

  /** A call that must answer one of `expect` (default 200): anything else is an Fts3HttpError. */
  async expect(
    server: string,
    auth: ClientAuth,
    method: string,
    path: string,
    opts: { body?: Parameters<Fts3Client['call']>[4]; expect?: readonly number[] } = {},
  ): Promise<Fts3Answer> {
    const answer = await this.call(server, auth, method, path, opts.body)
    if (!(opts.expect ?? [200]).includes(answer.status)) throw httpError(answer, `${method} ${server}${path}`)
    return answer
  }

  /** Drops the connections of credentials not used for `idleMs` (renewed proxies leave old agents behind). */
  async prune(idleMs: number): Promise<void> {
    const cutoff = Date.now() - idleMs
    for (const [key, entry] of this.agents) {
      if (entry.lastUsed >= cutoff) continue
      this.agents.delete(key)
      await entry.agent.close()
    }
  }

  async close(): Promise<void> {
    const agents = [...this.agents.values()]
    this.agents.clear()
    await Promise.all(agents.map((a) => a.agent.destroy()))
  }

  private async agentFor(server: string, auth: ClientAuth): Promise<Agent> {
    // tokens travel in a header, so token users share the server's connections
    const key = `${new URL(server).origin}\0${auth.kind === 'certificate' ? auth.key : ''}`
    const known = this.agents.get(key)
    if (known) {
      known.lastUsed = Date.now()
      return known.agent
    }
    const ca = await this.trusted()
    const agent = new Agent({
      connect: {
        ...(ca ? { ca } : {}),
        ...(auth.kind === 'certificate' ? { cert: auth.certPem, key: auth.keyPem } : {}),
      },
      keepAliveTimeout: 30_000,
      connections: 16,
    })
    this.agents.set(key, { agent, lastUsed: Date.now() })
    return agent
  }

  private trusted(): Promise<string[] | undefined> {
    const dir = this.opts.caDir
    if (!dir) return Promise.resolve(undefined)
    this.caPems ??= loadTrustStore(dir).then(
      (store) => store.cas.map((c) => c.pem),
      (err: Error) => {
        this.caPems = undefined
        throw new Error(`cannot read the CA directory ${dir} for FTS servers: ${err.message}`)
      },
    )
    return this.caPems
  }
}

/** The answer as a typed error, whatever shape its body has. */
export function httpError(answer: Fts3Answer, what: string): Fts3HttpError {
  const { message, shape } = errorMessageOf(answer.text, answer.json)
  return new Fts3HttpError(answer.status, message, shape, what)
}
