/**
 * What an FTS3 server's refusals mean to the engine. The server answers errors in three shapes
 * (docs/fts3-rest.md §0): `{"status","message"}` from routes, `{"job_id","http_status","http_message"}` in
 * multi-status entries (and failed single-job GETs), and werkzeug HTML pages from the auth middleware and the
 * DB-timeout handler. All of them become an Fts3HttpError with the server's own message.
 */

/** The server answered, with a status that is not what the call expects. */
export class Fts3HttpError extends Error {
  readonly status: number
  /** the server's message (from the JSON body, the HTML page, or the raw text) */
  readonly ftsMessage: string
  readonly shape: 'status' | 'entry' | 'html' | 'text'

  constructor(status: number, ftsMessage: string, shape: Fts3HttpError['shape'], what: string) {
    super(`${what}: FTS answered ${status}: ${ftsMessage}`)
    this.name = 'Fts3HttpError'
    this.status = status
    this.ftsMessage = ftsMessage
    this.shape = shape
  }

  /** 5xx: the server is in trouble (it may be avoided for a while) */
  get serverSide(): boolean {
    return this.status >= 500
  }
}

/**
 * No answer: the connection failed or the call timed out. `mayHaveArrived` is false only when the request
 * cannot have reached the server (connection refused, name unknown, connect timeout).
 */
export class Fts3UnreachableError extends Error {
  readonly mayHaveArrived: boolean

  constructor(message: string, mayHaveArrived: boolean, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'Fts3UnreachableError'
    this.mayHaveArrived = mayHaveArrived
  }
}

const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'])

/** A network failure of a call to `url`, as an Fts3UnreachableError. */
export function unreachable(err: unknown, what: string, timeoutMs: number): Fts3UnreachableError {
  const e = err as {
    name?: string
    code?: string
    message?: string
    cause?: { code?: string; message?: string }
  }
  const code = e.cause?.code ?? e.code ?? ''
  if (e.name === 'TimeoutError' || /TIMEOUT/.test(code)) {
    const connecting = code === 'UND_ERR_CONNECT_TIMEOUT'
    return new Fts3UnreachableError(`${what}: no answer within ${timeoutMs / 1000} s`, !connecting, {
      cause: err,
    })
  }
  const text = e.cause?.message ?? e.message ?? String(err)
  return new Fts3UnreachableError(`${what}: ${text}${code ? ` (${code})` : ''}`, !NOT_SENT.has(code), {
    cause: err,
  })
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#34': '"', '#39': "'" }

/** The message of a werkzeug HTML error page: its paragraph, else its title. */
function htmlMessage(html: string): string {
  const text = /<p>([\s\S]*?)<\/p>/i.exec(html)?.[1] ?? /<title>([\s\S]*?)<\/title>/i.exec(html)?.[1] ?? ''
  return text.replace(/&(#?\w+);/g, (m, name: string) => ENTITIES[name] ?? m).trim()
}

/** The three error shapes (and anything else) of one answer, as the server's message and its shape. */
export function errorMessageOf(
  text: string,
  json: unknown,
): { message: string; shape: Fts3HttpError['shape'] } {
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const o = json as Record<string, unknown>
    if (typeof o.message === 'string') return { message: o.message, shape: 'status' }
    if (typeof o.http_message === 'string') return { message: o.http_message, shape: 'entry' }
  }
  if (/^\s*<(!doctype|html)/i.test(text))
    return { message: htmlMessage(text) || 'HTML error page', shape: 'html' }
  const line = text.trim().split('\n')[0] ?? ''
  return { message: line.slice(0, 300) || '(empty body)', shape: 'text' }
}

/** `"404 Not Found"` → 404 (the `http_status` of multi-status entries); 0 when unreadable. */
export function entryStatus(httpStatus: unknown): number {
  const n = Number.parseInt(String(httpStatus ?? ''), 10)
  return Number.isFinite(n) ? n : 0
}
