/**
 * How the FTS3 REST server writes values (docs/fts3-rest.md §0): naive UTC datetimes, Python's json.dumps
 * lengths (the metadata size limits count those characters), and Python's urlparse view of a URL.
 */

/** `YYYY-MM-DDTHH:MM:SS`, UTC, no zone: what the server's JSON encoder prints for a datetime. */
export function ftsTime(date: Date | null): string | null {
  return date === null ? null : date.toISOString().slice(0, 19)
}

/** Seconds since the epoch, truncated, as the server stores `max_time_in_queue`. */
export function epochSeconds(ms: number): number {
  return Math.trunc(ms / 1000)
}

/** The length of `json.dumps(value)` in Python (separators `, ` and `: `, non-ASCII escaped). */
export function pythonJsonLength(value: unknown): number {
  return pythonJson(value).length
}

function pythonJson(value: unknown): string {
  if (value === null || value === undefined) return 'null'
  if (typeof value === 'string') {
    return JSON.stringify(value).replace(
      /[\u0080-\uffff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
  }
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : JSON.stringify(value)
  if (typeof value === 'boolean') return value ? 'true' : 'false'
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`
  const entries = Object.entries(value as Record<string, unknown>)
  return `{${entries.map(([k, v]) => `${pythonJson(k)}: ${pythonJson(v)}`).join(', ')}}`
}

/** The parts of a URL as Python's `urllib.parse.urlparse` splits them (the server validates with it). */
export interface ParsedUrl {
  scheme: string
  netloc: string
  path: string
  query: string
  /** lowercased host without user info, port or IPv6 brackets; '' when none */
  hostname: string
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/

export function parseUrl(url: string): ParsedUrl {
  let rest = url
  let scheme = ''
  const m = SCHEME.exec(rest)
  if (m) {
    scheme = m[1]!.toLowerCase()
    rest = rest.slice(m[0].length)
  }
  let netloc = ''
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(/[/?#]/)
    netloc = end < 0 ? rest.slice(2) : rest.slice(2, end + 2)
    rest = end < 0 ? '' : rest.slice(end + 2)
  }
  const hashAt = rest.indexOf('#')
  if (hashAt >= 0) rest = rest.slice(0, hashAt)
  const queryAt = rest.indexOf('?')
  const path = queryAt < 0 ? rest : rest.slice(0, queryAt)
  const query = queryAt < 0 ? '' : rest.slice(queryAt + 1)
  const hostPart = netloc.slice(netloc.lastIndexOf('@') + 1)
  const hostname = hostPart.startsWith('[')
    ? hostPart.slice(1, hostPart.indexOf(']'))
    : hostPart.replace(/:\d*$/, '')
  return { scheme, netloc, path, query, hostname: hostname.toLowerCase() }
}

/** The storage element of a URL: `scheme://host`, without the port. */
export function storageElement(url: string): string {
  const u = parseUrl(url)
  return `${u.scheme}://${u.hostname}`
}
