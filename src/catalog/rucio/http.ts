/**
 * The wire to a Rucio server: one undici request per call, a per-request timeout joined with the caller's
 * AbortSignal, answers kept raw (status, headers, text). Lists are `application/x-json-stream` (one JSON
 * object a line; `application/json` on a list is a 406); other calls accept anything, as each offers one
 * type of its own (x-json-stream on GET /dids/{scope}/{name} and json on /auth/userpass are 406s). Names
 * with `/` are path-encoded as Rucio's client does.
 */
import { Agent, type Dispatcher, request } from 'undici'
import { CatalogError } from '../catalog.js'

export interface RucioAnswer {
  status: number
  /** header names in lower case */
  headers: Record<string, string>
  text: string
}

export interface RucioCall {
  method: Dispatcher.HttpMethod
  /** the path under the server's URL, already encoded (see `didPath`) */
  path: string
  query?: [string, string][]
  headers?: Record<string, string>
  json?: unknown
  /** a list: asks for x-json-stream */
  stream?: boolean
}

const USER_AGENT = 'aso-rucio-catalog/0.1'

/**
 * Python's `quote_plus(s, safe='')`, which Rucio's client applies to scopes and names in paths: `/` → %2F.
 * encodeURIComponent leaves `!'()*` alone and writes a space as %20; quote_plus does not.
 */
export function quotePlus(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/** `/dids/{scope}/{name}` plus `rest`, encoded. */
export function didPath(scope: string, name: string, rest = ''): string {
  return `/dids/${quotePlus(scope)}/${quotePlus(name)}${rest}`
}

/** The objects of an x-json-stream body, one a line. */
export function parseJsonStream(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown)
}

/** A body parsed as JSON, or undefined when it is not JSON (`Created`, werkzeug pages, `'pfn'`). */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

export class RucioHttp {
  private readonly agent = new Agent({ connections: 4 })

  constructor(
    /** the server, without a trailing slash */
    readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  /** Sends one call; resolves with whatever Rucio answered, throws a transient CatalogError when it did not. */
  async send(call: RucioCall, signal?: AbortSignal): Promise<RucioAnswer> {
    const query = call.query?.length ? `?${new URLSearchParams(call.query).toString()}` : ''
    const url = `${this.baseUrl}${call.path}${query}`
    const headers: Record<string, string> = {
      'user-agent': USER_AGENT,
      // `*/*` elsewhere: /auth/userpass offers only octet-stream, GET /dids/{scope}/{name} only json
      accept: call.stream ? 'application/x-json-stream' : '*/*',
      ...call.headers,
    }
    if (call.json !== undefined) headers['content-type'] = 'application/json'
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signals = signal ? [signal, timeout] : [timeout]
    try {
      const res = await request(url, {
        method: call.method,
        headers,
        body: call.json === undefined ? undefined : JSON.stringify(call.json),
        dispatcher: this.agent,
        signal: AbortSignal.any(signals),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      })
      const text = await res.body.text()
      return { status: res.statusCode, headers: flatHeaders(res.headers), text }
    } catch (err) {
      throw noAnswer(err, `${call.method} ${this.baseUrl}${call.path}`, this.timeoutMs, signal)
    }
  }

  close(): Promise<void> {
    return this.agent.close()
  }
}

function flatHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(raw)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

/** No answer: cut by the caller, timed out, or the connection failed. All are worth a later retry. */
function noAnswer(err: unknown, what: string, timeoutMs: number, signal?: AbortSignal): CatalogError {
  if (signal?.aborted) {
    return new CatalogError(
      'catalog-transient',
      `${what} interrupted before Rucio answered: ${signal.reason}`,
    )
  }
  const e = err as {
    name?: string
    code?: string
    message?: string
    cause?: { code?: string; message?: string }
  }
  const code = e.cause?.code ?? e.code ?? ''
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || /TIMEOUT/.test(code)) {
    return new CatalogError(
      'catalog-transient',
      `${what}: Rucio did not answer within ${timeoutMs / 1000} s; retried later`,
    )
  }
  const text = e.cause?.message ?? e.message ?? String(err)
  return new CatalogError(
    'catalog-transient',
    `${what}: Rucio unreachable (${text}${code && !text.includes(code) ? `, ${code}` : ''}); retried later`,
  )
}
