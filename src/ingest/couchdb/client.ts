/**
 * A CouchDB client for the bridge: the `_changes` feed (longpoll or continuous, with heartbeats), bulk reads
 * (`_all_docs` by keys) and bulk writes (`_bulk_docs`, whose 201 carries a result per document). Sequence ids
 * are opaque: CouchDB 2+ sends strings, PouchDB and CouchDB 1 numbers; they are kept as the text the server
 * sent and given back as such, never compared or parsed.
 */
import { readFile } from 'node:fs/promises'
import { Agent, type Dispatcher, request } from 'undici'

export type CouchErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'server'
  | 'bad-answer'

/** What went wrong talking to CouchDB; the message says what was asked and what to check. */
export class CouchError extends Error {
  constructor(
    readonly kind: CouchErrorKind,
    message: string,
    readonly status?: number,
  ) {
    super(message)
    this.name = 'CouchError'
  }
}

export type CouchDoc = Record<string, unknown> & { _id: string; _rev?: string; _deleted?: boolean }

export interface Change {
  id: string
  /** as the server sent it, as text */
  seq: string
  deleted: boolean
  /** the winning revision */
  rev: string | null
  doc: CouchDoc | null
}

export interface ChangesPage {
  results: Change[]
  /** where the next read starts: the last change's seq, or the server's last_seq */
  lastSeq: string
  /** changes still after lastSeq, when the server says (CouchDB 2+); null otherwise */
  pending: number | null
  /** the read ended without reaching a full batch: the reader is at the head of the feed */
  atHead: boolean
}

export interface ChangesOptions {
  since: string
  limit: number
  feed: 'longpoll' | 'continuous'
  /** how long the server may wait for a change */
  waitMs: number
  heartbeatMs: number
  signal?: AbortSignal
}

/** One per-document answer of _bulk_docs. */
export interface BulkResult {
  id: string
  rev?: string
  /** `conflict`, `forbidden`, `unauthorized`, … */
  error?: string
  reason?: string
}

export interface CouchClientOptions {
  url: string
  database: string
  /** user:password for basic authentication */
  credentials?: { user: string; password: string } | null
  timeoutMs: number
}

const USER_AGENT = 'aso-couch-bridge/0.1'

/** Reads `user:password` from a credentials file (one line; surrounding blanks ignored). */
export async function readCredentials(file: string): Promise<{ user: string; password: string }> {
  const text = (await readFile(file, 'utf8')).trim()
  const colon = text.indexOf(':')
  if (colon <= 0) throw new CouchError('unauthorized', `${file}: expected one line "user:password"`)
  return { user: text.slice(0, colon), password: text.slice(colon + 1) }
}

/** The seq as text, whatever its JSON type. */
export function seqText(seq: unknown): string {
  return typeof seq === 'string' ? seq : JSON.stringify(seq ?? 0)
}

export class CouchClient {
  private readonly agent = new Agent({ connections: 8, keepAliveTimeout: 10_000 })
  private readonly base: string
  private readonly auth: string | null

  constructor(private readonly opts: CouchClientOptions) {
    this.base = `${opts.url.replace(/\/+$/, '')}/${encodeURIComponent(opts.database)}`
    this.auth = opts.credentials
      ? `Basic ${Buffer.from(`${opts.credentials.user}:${opts.credentials.password}`).toString('base64')}`
      : null
  }

  /** Where this client reads and writes, without credentials: the feed's name in the store. */
  get name(): string {
    return this.base
  }

  private headers(json: boolean): Record<string, string> {
    return {
      'user-agent': USER_AGENT,
      accept: 'application/json',
      ...(json ? { 'content-type': 'application/json' } : {}),
      ...(this.auth ? { authorization: this.auth } : {}),
    }
  }

  private async call(
    method: Dispatcher.HttpMethod,
    path: string,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const what = `${method} ${this.base}${path.split('?')[0]}`
    const timeout = AbortSignal.timeout(this.opts.timeoutMs)
    let res: Dispatcher.ResponseData
    try {
      res = await request(`${this.base}${path}`, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: this.agent,
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        headersTimeout: this.opts.timeoutMs,
        bodyTimeout: this.opts.timeoutMs,
      })
    } catch (e) {
      throw unreachable(e, what, this.opts.timeoutMs)
    }
    const text = await res.body.text()
    return answer(res.statusCode, text, what)
  }

  /** The database's document count and update_seq (opaque). */
  async info(): Promise<{ docCount: number; updateSeq: string }> {
    const r = (await this.call('GET', '')) as { doc_count?: number; update_seq?: unknown }
    return { docCount: Number(r.doc_count ?? 0), updateSeq: seqText(r.update_seq) }
  }

  /** Creates the database when it does not exist (tests, the benchmark). */
  async ensureDatabase(): Promise<void> {
    try {
      await this.call('PUT', '')
    } catch (e) {
      if (!(e instanceof CouchError && e.status === 412)) throw e
    }
  }

  /**
   * One read of the feed with the documents, from `since`: at most `limit` changes, waiting up to `waitMs` for
   * the first when there is none. The wait is also enforced here (not every server honours `timeout`): a read
   * cut by it returns what it got.
   */
  async changes(o: ChangesOptions): Promise<ChangesPage> {
    const q = new URLSearchParams({
      feed: o.feed,
      since: o.since,
      limit: String(o.limit),
      include_docs: 'true',
      timeout: String(o.waitMs),
      heartbeat: String(o.heartbeatMs),
    })
    const what = `GET ${this.base}/_changes`
    const cut = new AbortController()
    // the server's wait, then as long as any call may take: a loaded server may be slow to send a full batch
    const timer = setTimeout(() => cut.abort(new Error('wait over')), o.waitMs + this.opts.timeoutMs)
    const signals = [cut.signal, ...(o.signal ? [o.signal] : [])]
    const results: Change[] = []
    let lastSeq: string | null = null
    let pending: number | null = null
    try {
      let res: Dispatcher.ResponseData
      try {
        res = await request(`${this.base}/_changes?${q}`, {
          method: 'GET',
          headers: this.headers(false),
          dispatcher: this.agent,
          signal: AbortSignal.any(signals),
          headersTimeout: o.waitMs + this.opts.timeoutMs,
          // a heartbeat (a bare newline) comes every heartbeatMs while nothing changes
          bodyTimeout: Math.max(o.heartbeatMs * 3, this.opts.timeoutMs),
        })
      } catch (e) {
        if (cut.signal.aborted && !o.signal?.aborted)
          return { results, lastSeq: o.since, pending, atHead: true }
        throw unreachable(e, what, this.opts.timeoutMs)
      }
      if (res.statusCode >= 300) answer(res.statusCode, await res.body.text(), what)
      if (o.feed === 'longpoll') {
        let text: string
        try {
          text = await res.body.text()
        } catch (e) {
          if (cut.signal.aborted && !o.signal?.aborted)
            return { results, lastSeq: o.since, pending, atHead: true }
          throw unreachable(e, what, this.opts.timeoutMs)
        }
        const body = parse(text, what) as { results?: unknown[]; last_seq?: unknown; pending?: unknown }
        for (const r of body.results ?? []) results.push(changeOf(r, what))
        lastSeq = body.last_seq === undefined ? (results.at(-1)?.seq ?? o.since) : seqText(body.last_seq)
        pending = typeof body.pending === 'number' ? body.pending : null
      } else {
        // continuous: a JSON object a line, blank lines for heartbeats, a last line {"last_seq": …}
        let buffered = ''
        // changes came and then none for the server's wait: the head (some servers ignore `timeout` here)
        let idle: NodeJS.Timeout | undefined
        try {
          for await (const chunk of res.body) {
            const before = results.length
            buffered += chunk.toString('utf8')
            let nl = buffered.indexOf('\n')
            while (nl >= 0) {
              const line = buffered.slice(0, nl).trim()
              buffered = buffered.slice(nl + 1)
              nl = buffered.indexOf('\n')
              if (!line) continue
              const obj = parse(line, what) as { last_seq?: unknown; pending?: unknown }
              if (obj.last_seq !== undefined) {
                lastSeq = seqText(obj.last_seq)
                if (typeof obj.pending === 'number') pending = obj.pending
                continue
              }
              results.push(changeOf(obj, what))
            }
            // a full batch: stop reading (some servers ignore `limit` on a continuous feed)
            if (results.length >= o.limit) {
              cut.abort(new Error('batch full'))
              break
            }
            if (results.length > before) {
              clearTimeout(idle)
              idle = setTimeout(() => cut.abort(new Error('idle')), o.waitMs)
            }
          }
        } catch (e) {
          if (!(cut.signal.aborted && !o.signal?.aborted)) throw unreachable(e, what, this.opts.timeoutMs)
        } finally {
          clearTimeout(idle)
        }
        lastSeq ??= results.at(-1)?.seq ?? o.since
      }
      return { results, lastSeq, pending, atHead: results.length < o.limit }
    } finally {
      clearTimeout(timer)
    }
  }

  /** The current documents of `ids`; null for one missing or deleted. */
  async getDocs(ids: readonly string[]): Promise<Map<string, CouchDoc | null>> {
    const out = new Map<string, CouchDoc | null>()
    if (ids.length === 0) return out
    const r = (await this.call('POST', '/_all_docs?include_docs=true', { keys: ids })) as {
      rows?: {
        key?: string
        id?: string
        doc?: CouchDoc | null
        error?: string
        value?: { deleted?: boolean }
      }[]
    }
    for (const row of r.rows ?? []) {
      const id = row.key ?? row.id
      if (typeof id !== 'string') continue
      out.set(id, row.error || row.value?.deleted || !row.doc ? null : row.doc)
    }
    return out
  }

  /** Writes documents (each with the `_rev` it replaces); the answer per document, in order. */
  async bulkDocs(docs: readonly CouchDoc[]): Promise<BulkResult[]> {
    if (docs.length === 0) return []
    const r = await this.call('POST', '/_bulk_docs', { docs })
    if (!Array.isArray(r))
      throw new CouchError('bad-answer', `POST ${this.base}/_bulk_docs: not a list of results`)
    return r.map((x: { id?: unknown; rev?: unknown; error?: unknown; reason?: unknown }, i) => ({
      id: typeof x.id === 'string' ? x.id : docs[i]!._id,
      ...(typeof x.rev === 'string' ? { rev: x.rev } : {}),
      ...(x.error !== undefined ? { error: String(x.error) } : {}),
      ...(x.reason !== undefined ? { reason: String(x.reason) } : {}),
    }))
  }

  close(): Promise<void> {
    return this.agent.close()
  }
}

function parse(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new CouchError('bad-answer', `${what}: the answer is not JSON (${text.slice(0, 100)})`)
  }
}

function changeOf(raw: unknown, what: string): Change {
  const r = raw as {
    id?: unknown
    seq?: unknown
    deleted?: unknown
    changes?: { rev?: unknown }[]
    doc?: unknown
  }
  if (typeof r?.id !== 'string') throw new CouchError('bad-answer', `${what}: a change without an id`)
  const rev = r.changes?.[0]?.rev
  const doc = r.doc && typeof r.doc === 'object' ? (r.doc as CouchDoc) : null
  return {
    id: r.id,
    seq: seqText(r.seq),
    deleted: r.deleted === true || doc?._deleted === true,
    rev: typeof rev === 'string' ? rev : (doc?._rev ?? null),
    doc,
  }
}

/** The JSON of a 2xx answer; a CouchError naming CouchDB's `error` and `reason` otherwise. */
function answer(status: number, text: string, what: string): unknown {
  if (status >= 200 && status < 300) return parse(text, what)
  let detail = text.slice(0, 200)
  try {
    const b = JSON.parse(text) as { error?: string; reason?: string }
    detail = [b.error, b.reason].filter(Boolean).join(': ')
  } catch {
    // not JSON: the text itself
  }
  const kind: CouchErrorKind =
    status === 401
      ? 'unauthorized'
      : status === 403
        ? 'forbidden'
        : status === 404
          ? 'not-found'
          : status >= 500
            ? 'server'
            : 'bad-answer'
  const hint =
    kind === 'unauthorized'
      ? ' (check ingest.couchdb.credentialsFile)'
      : kind === 'not-found'
        ? ' (check ingest.couchdb.database)'
        : ''
  throw new CouchError(kind, `${what}: HTTP ${status} ${detail}${hint}`, status)
}

function unreachable(e: unknown, what: string, timeoutMs: number): CouchError {
  if (e instanceof CouchError) return e
  const err = e as {
    name?: string
    code?: string
    message?: string
    cause?: { code?: string; message?: string }
  }
  const code = err.cause?.code ?? err.code ?? ''
  if (err.name === 'TimeoutError' || /TIMEOUT/.test(code))
    return new CouchError('unreachable', `${what}: CouchDB did not answer within ${timeoutMs / 1000} s`)
  const text = err.cause?.message ?? err.message ?? String(e)
  return new CouchError(
    'unreachable',
    `${what}: CouchDB unreachable (${text}${code && !text.includes(code) ? `, ${code}` : ''})`,
  )
}
