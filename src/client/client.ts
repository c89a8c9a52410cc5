/**
 * The typed client of the ASO API (`/api/v1`), on undici: what the CLI uses with `--server`, and what a job
 * wrapper can use directly. Every failure is an AsoError whose message says what to do; connection and
 * authentication problems are the codes the CLI maps to exit status 3.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { Agent, type Dispatcher, request } from 'undici'
import type {
  LinkChangeBody,
  LinkSettingResponse,
  TaskListResponse,
  WeightResponse,
} from '../contract/dashboard.js'
import type {
  ErrorBody,
  ExplanationResponse,
  InjectResponse,
  KillResponse,
  LinksResponse,
  ListResponse,
  PublicationRetryResponse,
  RetryResponse,
  SelectorBody,
  StatusResponse,
  TaskSummaryResponse,
  TransferEvent,
  UsersResponse,
  WhoamiResponse,
} from '../contract/schemas.js'
import { AsoError, type AsoErrorCode } from '../domain/errors.js'
import type { TransferState } from '../domain/states.js'

/** How the client proves who it is: a client certificate (chain) and key, a bearer token, or (http) a name. */
export interface ClientAuth {
  /** PEM: the certificate, or a proxy followed by its chain */
  cert?: string
  key?: string
  token?: string
  /** CA certificates (PEM) the server's certificate is checked against */
  ca?: string[]
  /** X-ASO-User, for servers run with --insecure-dev */
  user?: string
}

/** Filters of GET /transfers; `updatedSince` is ISO 8601 or epoch milliseconds. */
export interface ListParams {
  user?: string
  task?: string
  state?: TransferState
  source?: string
  destination?: string
  class?: string
  updatedSince?: string | number
  cursor?: string
  limit?: number
}

/** Filters of GET /tasks: `q` is part of the task name; `status` active, complete or failed (default all). */
export interface TaskListParams {
  user?: string
  q?: string
  status?: 'all' | 'active' | 'complete' | 'failed'
  cursor?: string
  limit?: number
}

/** How `waitForTask` reports along the way: every `sliceMs` at most, the summary seen. */
export interface WaitProgress {
  sliceMs?: number
  onSummary?: (summary: TaskSummaryResponse) => void
}

const KNOWN_CODES = new Set<AsoErrorCode>([
  'invalid-request',
  'invalid-config',
  'not-found',
  'conflict',
  'forbidden',
  'unauthenticated',
  'unavailable',
  'timeout',
  'usage',
  'too-large',
  'internal',
])

/** Long-polls ask for this much at a time; the server caps it at 5 minutes. */
const WAIT_SLICE_MS = 60_000

export class AsoClient {
  readonly server: string
  private readonly dispatcher: Dispatcher
  private readonly headers: Record<string, string>

  constructor(server: string, auth: ClientAuth = {}) {
    this.server = server.replace(/\/+$/, '')
    this.dispatcher = new Agent({
      connect: {
        ...(auth.cert !== undefined ? { cert: auth.cert } : {}),
        ...(auth.key !== undefined ? { key: auth.key } : {}),
        ...(auth.ca !== undefined ? { ca: auth.ca } : {}),
      },
      // long-polls hold the answer for minutes; event streams for hours
      headersTimeout: 6 * 60_000,
      bodyTimeout: 0,
    })
    this.headers = {
      accept: 'application/json',
      ...(auth.token !== undefined ? { authorization: `Bearer ${auth.token}` } : {}),
      ...(auth.user !== undefined ? { 'x-aso-user': auth.user } : {}),
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close()
  }

  private async call<T>(
    method: 'GET' | 'POST',
    path: string,
    opts: { body?: unknown; query?: Record<string, string | number | undefined>; okStatuses?: number[] } = {},
  ): Promise<{ status: number; body: T }> {
    const url = new URL(`${this.server}${path}`)
    for (const [k, v] of Object.entries(opts.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v))
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: {
          ...this.headers,
          ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      })
    } catch (e) {
      throw this.connectionError(e)
    }
    const text = await res.body.text()
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch (e) {
      // not our API answering (a proxy's error page, another service on that port)
      throw new AsoError(
        'unavailable',
        `${this.server} answered HTTP ${res.statusCode} with something that is not JSON (${(e as Error).message}): is it an ASO server?`,
      )
    }
    if ((res.statusCode >= 200 && res.statusCode < 300) || opts.okStatuses?.includes(res.statusCode)) {
      return { status: res.statusCode, body: body as T }
    }
    throw this.httpError(res.statusCode, body)
  }

  private httpError(status: number, body: unknown): AsoError {
    const detail = (body as Partial<ErrorBody> | undefined)?.error
    const message = detail?.message ?? `HTTP ${status}`
    if (status >= 500) {
      return new AsoError('unavailable', `the ASO server ${this.server} failed (HTTP ${status}): ${message}`)
    }
    const code =
      detail && KNOWN_CODES.has(detail.code as AsoErrorCode)
        ? (detail.code as AsoErrorCode)
        : 'invalid-request'
    return new AsoError(code, message, detail?.field !== undefined ? { field: detail.field } : undefined)
  }

  private connectionError(e: unknown): AsoError {
    const err = e as Error & { code?: string; cause?: Error & { code?: string } }
    const code = err.cause?.code ?? err.code ?? ''
    const why = err.cause?.message ?? err.message
    const tlsHint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|SSL/.test(`${code} ${why}`)
      ? ': the server certificate could not be verified (set --ca-dir or $X509_CERT_DIR to the CA directory)'
      : code === 'ECONNREFUSED'
        ? ': nothing listens there; is aso serve running?'
        : ''
    return new AsoError(
      'unavailable',
      `cannot reach ASO at ${this.server}: ${[code, why].filter(Boolean).join(' ')}${tlsHint}`,
      {
        cause: e,
      },
    )
  }

  /** Stores transfer requests (at most 10,000): one result per request, in order; `ok` when any was accepted. */
  async inject(requests: readonly unknown[]): Promise<{ ok: boolean; results: InjectResponse['results'] }> {
    const { status, body } = await this.call<InjectResponse & Partial<ErrorBody>>(
      'POST',
      '/api/v1/transfers',
      {
        body: requests,
        okStatuses: [400],
      },
    )
    if (status === 400 && !Array.isArray(body.results)) throw this.httpError(status, body)
    return { ok: status === 200, results: body.results }
  }

  async list(query: ListParams = {}): Promise<ListResponse> {
    return (await this.call<ListResponse>('GET', '/api/v1/transfers', { query: { ...query } })).body
  }

  /** The record, its timeline and why it is where it is. */
  async explain(id: string): Promise<ExplanationResponse> {
    return (await this.call<ExplanationResponse>('GET', `/api/v1/transfers/${encodeURIComponent(id)}`)).body
  }

  async kill(sel: SelectorBody): Promise<KillResponse> {
    return (await this.call<KillResponse>('POST', '/api/v1/transfers/kill', { body: sel })).body
  }

  async retry(sel: SelectorBody): Promise<RetryResponse> {
    return (await this.call<RetryResponse>('POST', '/api/v1/transfers/retry', { body: sel })).body
  }

  /** FAILED publications of these files (or the task's) get a new round. */
  async publishRetry(sel: SelectorBody): Promise<PublicationRetryResponse> {
    return (await this.call<PublicationRetryResponse>('POST', '/api/v1/publication/retry', { body: sel }))
      .body
  }

  async task(task: string): Promise<TaskSummaryResponse> {
    return (await this.call<TaskSummaryResponse>('GET', `/api/v1/tasks/${encodeURIComponent(task)}`)).body
  }

  /** One long-poll: answers when every file of the task is terminal, or after `timeoutMs` (at most 5 min). */
  async waitOnce(task: string, timeoutMs: number): Promise<TaskSummaryResponse> {
    const path = `/api/v1/tasks/${encodeURIComponent(task)}/wait`
    const timeout = `${Math.max(0, Math.round(timeoutMs))}ms`
    return (await this.call<TaskSummaryResponse>('GET', path, { query: { timeout } })).body
  }

  /**
   * Long-polls until every file of the task is terminal or `timeoutMs` passes (then `complete` is false).
   * Once the server has answered, a connection lost later (a restart) is retried until the deadline.
   */
  async waitForTask(
    task: string,
    timeoutMs: number,
    progress: WaitProgress = {},
  ): Promise<TaskSummaryResponse> {
    const deadline = Date.now() + timeoutMs
    const slice = progress.sliceMs ?? WAIT_SLICE_MS
    let last: TaskSummaryResponse | null = null
    for (;;) {
      const left = deadline - Date.now()
      try {
        last = await this.waitOnce(task, Math.max(0, Math.min(left, slice)))
        progress.onSummary?.(last)
      } catch (e) {
        if (!(e instanceof AsoError && e.code === 'unavailable') || last === null || left <= 0) throw e
        await new Promise((r) => setTimeout(r, Math.min(2000, Math.max(0, left))))
        continue
      }
      if (last.complete || Date.now() >= deadline) return last
    }
  }

  /**
   * Server-Sent Events of state changes, in order; each event carries its `id` for a later `lastEventId`.
   * One connection: when it ends (or fails), reconnect with the last id seen to miss nothing.
   */
  async *events(
    filter: { user?: string; task?: string } = {},
    opts: { lastEventId?: number; signal?: AbortSignal } = {},
  ): AsyncGenerator<TransferEvent> {
    const url = new URL(`${this.server}/api/v1/events`)
    for (const [k, v] of Object.entries(filter)) if (v !== undefined) url.searchParams.set(k, v)
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, {
        method: 'GET',
        dispatcher: this.dispatcher,
        headers: {
          ...this.headers,
          accept: 'text/event-stream',
          ...(opts.lastEventId !== undefined ? { 'last-event-id': String(opts.lastEventId) } : {}),
        },
        ...(opts.signal ? { signal: opts.signal } : {}),
      })
    } catch (e) {
      throw this.connectionError(e)
    }
    if (res.statusCode !== 200) {
      const text = await res.body.text()
      let body: unknown
      try {
        body = JSON.parse(text)
      } catch (e) {
        // the status says enough
        void e
      }
      throw this.httpError(res.statusCode, body)
    }
    const queue: EventSourceMessage[] = []
    const parser = createParser({ onEvent: (m) => queue.push(m) })
    const decoder = new TextDecoder()
    try {
      for await (const chunk of res.body) {
        parser.feed(decoder.decode(chunk as Buffer, { stream: true }))
        while (queue.length) {
          const m = queue.shift()!
          if (m.event === 'transition') yield JSON.parse(m.data) as TransferEvent
        }
      }
    } catch (e) {
      if (opts.signal?.aborted) return
      throw this.connectionError(e)
    } finally {
      res.body.destroy()
    }
  }

  async links(): Promise<LinksResponse> {
    return (await this.call<LinksResponse>('GET', '/api/v1/links')).body
  }

  async users(): Promise<UsersResponse> {
    return (await this.call<UsersResponse>('GET', '/api/v1/users')).body
  }

  async status(filter: { user?: string; task?: string } = {}): Promise<StatusResponse> {
    return (await this.call<StatusResponse>('GET', '/api/v1/status', { query: filter })).body
  }

  async whoami(): Promise<WhoamiResponse> {
    return (await this.call<WhoamiResponse>('GET', '/api/v1/whoami')).body
  }

  /** Tasks with their files per state, newest first (cursor pages). */
  async tasks(query: TaskListParams = {}): Promise<TaskListResponse> {
    return (await this.call<TaskListResponse>('GET', '/api/v1/tasks', { query: { ...query } })).body
  }

  /** Operators: pause or resume the link SOURCE->DESTINATION, or set its maxActive (null: back to aso.yaml). */
  async setLink(source: string, destination: string, change: LinkChangeBody): Promise<LinkSettingResponse> {
    const path = `/api/v1/links/${encodeURIComponent(`${source}->${destination}`)}`
    return (await this.call<LinkSettingResponse>('POST', path, { body: change })).body
  }

  /** Operators: a user's fair-share weight. */
  async setUserWeight(user: string, weight: number): Promise<WeightResponse> {
    const path = `/api/v1/users/${encodeURIComponent(user)}/weight`
    return (await this.call<WeightResponse>('POST', path, { body: { weight } })).body
  }
}
