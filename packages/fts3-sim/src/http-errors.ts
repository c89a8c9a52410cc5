/**
 * The errors the FTS3 REST server answers with (docs/fts3-rest.md §0): werkzeug's status names, the JSON
 * body Flask's error handler makes of them (shape 1), and werkzeug's HTML pages (shape 3), which the
 * auth middleware and the DB-timeout handler send.
 */

/** werkzeug's names; a code it does not know (419) is "Unknown Error" in bodies and "UNKNOWN" on the status line. */
const NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  424: 'Failed Dependency',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

export function statusName(code: number): string {
  return NAMES[code] ?? 'Unknown Error'
}

/** `"404 Not Found"`: the status text FTS puts in bodies (`status`, `http_status`). */
export function statusText(code: number): string {
  return `${code} ${statusName(code)}`
}

/** Codes werkzeug has no name for: their status line reads "UNKNOWN" (FTS's own 419). */
const WERKZEUG_UNNAMED = new Set([419])

/**
 * The reason phrase of the status line where Node's own would differ from werkzeug's: only for codes werkzeug
 * does not know. Every standard code (200, 201, 207, 304, 404…) keeps its ordinary phrase.
 */
export function statusLineReason(code: number): string | undefined {
  return WERKZEUG_UNNAMED.has(code) ? 'UNKNOWN' : undefined
}

export const DEFAULT_DESCRIPTIONS: Record<number, string> = {
  404: 'The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.',
  405: 'The method is not allowed for the requested URL.',
  500: 'The server encountered an internal error and was unable to complete your request. Either the server is overloaded or there is an error in the application.',
  503: 'The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.',
}

/** An HTTP error raised inside a route: answered as `{"status", "message"}` (shape 1) unless `html`. */
export class FtsHttpError extends Error {
  readonly code: number
  /** werkzeug HTML page instead of JSON (auth middleware, DB timeout) */
  readonly html: boolean
  readonly headers: Record<string, string>

  constructor(
    code: number,
    message?: string,
    opts: { html?: boolean; headers?: Record<string, string> } = {},
  ) {
    super(message ?? DEFAULT_DESCRIPTIONS[code] ?? statusName(code))
    this.name = 'FtsHttpError'
    this.code = code
    this.html = opts.html ?? false
    this.headers = opts.headers ?? {}
  }
}

export const badRequest = (message: string): FtsHttpError => new FtsHttpError(400, message)
export const forbidden = (message: string): FtsHttpError => new FtsHttpError(403, message)
export const notFound = (message?: string): FtsHttpError => new FtsHttpError(404, message)

/** Shape 1. */
export function errorBody(code: number, message: string): { status: string; message: string } {
  return { status: statusText(code), message }
}

/** markupsafe's escape, as werkzeug applies it to the description */
const escapeHtml = (s: string): string =>
  s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll("'", '&#39;')
    .replaceAll('"', '&#34;')

/** Shape 3: werkzeug's HTML error page. */
export function errorPage(code: number, message: string): string {
  return [
    '<!doctype html>',
    '<html lang=en>',
    `<title>${statusText(code)}</title>`,
    `<h1>${statusName(code)}</h1>`,
    `<p>${escapeHtml(message)}</p>`,
    '',
  ].join('\n')
}
