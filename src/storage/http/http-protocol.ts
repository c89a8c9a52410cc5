/**
 * Storage operations on WebDAV endpoints (`davs://`, `https://`, `dav://`, `http://`), natively through undici
 * (docs/storage-notes.md §2): size and type by PROPFIND (HEAD where PROPFIND is refused), adler32 by HEAD with
 * `Want-Digest: adler32`, removal by DELETE, directories by MKCOL.
 */
import { acquireAdler32, normaliseAdler32, releaseAdler32 } from '../adler32.js'
import { type ProtocolHandler, type StatResult, StorageError, type StorageOptions } from '../protocol.js'
import { type HttpClients, type HttpResponse, httpClients } from './http-client.js'
import { httpFreeSpace } from './http-quota.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

export const HTTP_SCHEMES: ReadonlySet<string> = new Set(['davs', 'https', 'dav', 'http'])

/** errno for an HTTP answer: the server's words when they name the problem, else the status. */
export function httpErrno(status: number, text: string): number {
  if (/no such file|not found|unable to locate/i.test(text)) return 2
  if (/permission denied|forbidden|not authori[sz]ed/i.test(text)) return 13
  if (/file exists|already exists/i.test(text)) return 17
  if (/no space|insufficient storage/i.test(text)) return 28
  if (/quota/i.test(text)) return 122
  if (/is a directory/i.test(text)) return 21
  if (/timed? ?out/i.test(text)) return 110
  const byStatus: Record<number, number> = {
    400: 22,
    401: 13,
    403: 13,
    404: 2,
    405: 95,
    408: 110,
    409: 2,
    412: 17,
    413: 27,
    501: 95,
    504: 110,
    507: 28,
  }
  return byStatus[status] ?? 5
}

/** The first meaningful line of an error body, short enough for a reason. */
export function bodyLine(body: string): string {
  const line = body
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '')
  return (line ?? '').slice(0, 500)
}

/** A failed HTTP answer as `SCOPE [errno] HTTP <status> : <server's words>`. */
export function httpFailure(
  scope: Scope,
  res: { statusCode: number },
  body: string,
  what: string,
): StorageError {
  const text = bodyLine(body) || `${what} failed`
  return new StorageError(
    scope,
    httpErrno(res.statusCode, text),
    `HTTP ${res.statusCode} : ${text} (${what})`,
  )
}

/** Reads an answer's body as text (error bodies and COPY progress are small). */
export async function bodyText(res: HttpResponse): Promise<string> {
  return (await res.body.text()).replaceAll('\u0000', '')
}

/**
 * Reads an answer's (small or empty) body to its end so its connection is reused. Not `body.dump()`: that
 * closes the connection when Content-Length is large, as it is for a HEAD of a big file.
 */
export async function drain(res: HttpResponse): Promise<void> {
  await res.body.text()
}

const scopeOf = (opts?: StorageOptions): Scope => opts?.scope ?? 'TRANSFER'

/** Size and type from a PROPFIND multistatus answer of Depth 0. */
export function parsePropfind(xml: string): StatResult | null {
  const size = /getcontentlength>\s*(\d+)\s*</i.exec(xml)
  const isDirectory = /<[\w:]*collection\s*\/>|iscollection>\s*1\s*</i.test(xml)
  if (!size && !isDirectory) return null
  return { size: size ? Number(size[1]) : 0, isDirectory }
}

/** The adler32 of a `Digest` header (`adler32=0ce6941d`, maybe among others), or null. */
export function digestAdler32(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '')
  const m = /(?:^|,)\s*adler32=([0-9a-fA-F]{1,8})\s*(?:,|$)/i.exec(value)
  return m ? normaliseAdler32(m[1]!) : null
}

/** The URL of the directory holding `url`'s file, or null at the root. */
export function parentUrl(url: string): string | null {
  const u = new URL(url)
  const trimmed = u.pathname.replace(/\/+$/, '')
  const cut = trimmed.lastIndexOf('/')
  if (cut <= 0) return null
  u.pathname = trimmed.slice(0, cut)
  u.search = ''
  return u.toString()
}

export interface HttpProtocolHandler extends ProtocolHandler {
  readonly clients: HttpClients
  /**
   * Creates the directory holding `url` and its missing parents (a COPY does not create them).
   * `made` remembers directories made in one run, so a batch to one directory asks once.
   */
  makeParent(url: string, opts?: StorageOptions, made?: Map<string, Promise<void>>): Promise<void>
  /**
   * size and adler32 in one HEAD where the server gives a Digest; the adler32 is null where it does not.
   * `expectedSize` bounds how long the server may take to checksum the file.
   */
  sizeAndDigest(
    url: string,
    opts?: StorageOptions,
    expectedSize?: number,
  ): Promise<{ size: number; adler32: string | null } | null>
}

/** A WebDAV protocol handler on the given clients. */
export function httpProtocolFor(clients: HttpClients): HttpProtocolHandler {
  const send = (url: string, method: string, opts: StorageOptions | undefined, headers = {}) =>
    clients.send(url, {
      method,
      headers,
      signal: opts?.signal,
      credentials: opts?.credentials,
      scope: scopeOf(opts),
    })

  /**
   * HEAD with `Want-Digest: adler32`. XrdHttp 5.5 now and then never answers a digest asked right after a
   * COPY wrote the file (about 1 in 300 here), and answers at once when asked again: so a silence longer
   * than the checksum can take is asked again, twice at most.
   */
  async function headDigest(
    url: string,
    opts: StorageOptions | undefined,
    size?: number,
  ): Promise<HttpResponse> {
    // the server reads the whole file for an uncached checksum: allow ~50 MB/s (unknown size: the default)
    const headersTimeoutMs = size === undefined ? undefined : 10_000 + Math.ceil(size / 50e6) * 1000
    for (let attempt = 1; ; attempt++) {
      try {
        return await clients.send(url, {
          method: 'HEAD',
          headers: { 'Want-Digest': 'adler32' },
          signal: opts?.signal,
          credentials: opts?.credentials,
          scope: scopeOf(opts),
          headersTimeoutMs,
        })
      } catch (err) {
        const silent = err instanceof StorageError && err.errno === 110
        if (!silent || attempt >= 3 || opts?.signal?.aborted) throw err
      }
    }
  }

  async function headStat(url: string, opts?: StorageOptions): Promise<StatResult | null> {
    const res = await send(url, 'HEAD', opts)
    await drain(res)
    if (res.statusCode === 404) return null
    if (res.statusCode >= 300) throw httpFailure(scopeOf(opts), res, '', `HEAD ${url}`)
    return { size: Number(res.headers['content-length'] ?? 0), isDirectory: false }
  }

  /** adler32 of the bytes a GET returns, for servers that give no Digest. */
  async function streamedAdler32(url: string, opts?: StorageOptions): Promise<string> {
    const res = await send(url, 'GET', opts)
    if (res.statusCode !== 200) throw httpFailure(scopeOf(opts), res, await bodyText(res), `GET ${url}`)
    const hasher = await acquireAdler32()
    try {
      for await (const chunk of res.body) hasher.update(chunk as Buffer)
      return hasher.digest('hex')
    } finally {
      releaseAdler32(hasher)
    }
  }

  async function mkcol(dir: string, opts?: StorageOptions, depth = 0): Promise<void> {
    const res = await send(dir, 'MKCOL', opts)
    const body = await bodyText(res)
    // 201 made; 405 already there (XrdHttp answers 201 for both, and makes missing parents itself)
    if (res.statusCode === 201 || res.statusCode === 200 || res.statusCode === 405) return
    const parent = parentUrl(dir)
    if (res.statusCode === 409 && parent && depth < 64) {
      // the parent is missing: make it, then this one
      await mkcol(parent, opts, depth + 1)
      return mkcol(dir, opts, depth + 1)
    }
    throw httpFailure(scopeOf(opts), res, body, `MKCOL ${dir}`)
  }

  async function stat(url: string, opts?: StorageOptions): Promise<StatResult | null> {
    const res = await send(url, 'PROPFIND', opts, { Depth: '0' })
    const body = await bodyText(res)
    if (res.statusCode === 404) return null
    if (res.statusCode === 405 || res.statusCode === 501) return headStat(url, opts)
    if (res.statusCode !== 207) throw httpFailure(scopeOf(opts), res, body, `PROPFIND ${url}`)
    const st = parsePropfind(body)
    if (!st)
      throw new StorageError(scopeOf(opts), 5, `Unexpected PROPFIND answer for ${url}: ${bodyLine(body)}`)
    return st
  }

  return {
    schemes: [...HTTP_SCHEMES],
    clients,
    stat,

    async adler32(url, opts) {
      const res = await headDigest(url, opts)
      await drain(res)
      if (res.statusCode >= 300) throw httpFailure(scopeOf(opts), res, '', `HEAD ${url}`)
      return digestAdler32(res.headers.digest) ?? streamedAdler32(url, opts)
    },

    async remove(url, opts) {
      const res = await send(url, 'DELETE', opts)
      const body = await bodyText(res)
      if (res.statusCode < 300 || res.statusCode === 404) return
      throw httpFailure(scopeOf(opts), res, body, `DELETE ${url}`)
    },

    freeSpace: (url, opts) => httpFreeSpace(clients, url, opts),

    async makeParent(url, opts, made) {
      const dir = parentUrl(url)
      if (!dir) return
      let pending = made?.get(dir)
      if (!pending) {
        pending = mkcol(dir, opts)
        made?.set(dir, pending)
      }
      return pending
    },

    async sizeAndDigest(url, opts, expectedSize) {
      const res = await headDigest(url, opts, expectedSize)
      await drain(res)
      if (res.statusCode === 404) return null
      if (res.statusCode >= 300) throw httpFailure(scopeOf(opts), res, '', `HEAD ${url}`)
      const length = res.headers['content-length']
      if (length === undefined) {
        const st = await stat(url, opts)
        return st && { size: st.size, adler32: digestAdler32(res.headers.digest) }
      }
      return { size: Number(length), adler32: digestAdler32(res.headers.digest) }
    },
  }
}

/** The WebDAV handler on the shared clients. */
export const httpProtocol: HttpProtocolHandler = httpProtocolFor(httpClients)
