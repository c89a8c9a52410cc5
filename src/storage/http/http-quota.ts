/** A WebDAV directory's free space as the server states it: RFC 4331's `quota-available-bytes`. */
import type { FreeSpace, StorageOptions } from '../protocol.js'
import type { HttpClients } from './http-client.js'
import { bodyText, httpFailure, parentUrl } from './http-protocol.js'

const QUOTA_PROPFIND =
  '<?xml version="1.0" encoding="utf-8"?>\n' +
  '<D:propfind xmlns:D="DAV:"><D:prop><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>\n'

/**
 * `quota-available-bytes` of a PROPFIND answer, or null when the server left it out or answered it 404 (RFC
 * 4331 section 4: a server that keeps no quota for the resource). A negative or non-integer value is no figure.
 */
export function parseQuotaAvailable(xml: string): number | null {
  const m = /<(?:[\w-]+:)?quota-available-bytes(?:\s[^>]*)?>\s*(\d+)\s*<\//i.exec(xml)
  if (!m) return null
  const n = Number(m[1])
  return Number.isSafeInteger(n) ? n : null
}

/**
 * Asks a WebDAV server how many bytes more the directory takes. A directory not made yet is asked about
 * through its nearest existing parent; a server that refuses PROPFIND or keeps no quota answers null.
 */
export async function httpFreeSpace(
  clients: HttpClients,
  url: string,
  opts?: StorageOptions,
): Promise<FreeSpace | null> {
  const scope = opts?.scope ?? 'TRANSFER'
  let dir: string | null = url
  for (let depth = 0; dir !== null && depth < 64; depth++) {
    const res = await clients.send(dir, {
      method: 'PROPFIND',
      headers: { Depth: '0', 'Content-Type': 'application/xml; charset=utf-8' },
      body: QUOTA_PROPFIND,
      signal: opts?.signal,
      credentials: opts?.credentials,
      scope,
    })
    const body = await bodyText(res)
    if (res.statusCode === 404) {
      dir = parentUrl(dir)
      continue
    }
    if (res.statusCode === 405 || res.statusCode === 501) return null
    if (res.statusCode !== 207) throw httpFailure(scope, res, body, `PROPFIND ${dir}`)
    const bytes = parseQuotaAvailable(body)
    return bytes === null ? null : { bytes, source: 'webdav', url: dir }
  }
  return null
}
