import type { PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import pg from 'pg'
import { AsoError } from '../../domain/errors.js'

/** Where the store reports connection trouble (a pino logger fits). */
export interface StoreLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

/** Writes one line to stderr: the default when the caller has no logger. */
export const stderrLog: StoreLog = {
  warn: (obj, msg) => process.stderr.write(`aso: ${msg} ${JSON.stringify(obj)}\n`),
  info: (obj, msg) => process.stderr.write(`aso: ${msg} ${JSON.stringify(obj)}\n`),
}

const NETWORK_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

/**
 * Whether an error means the connection (or the server) is gone, rather than a problem with a statement:
 * SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, crash, starting up), 53300 (too many
 * connections), socket errors, and pg's own messages for a dead or unusable client.
 */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: unknown; message?: unknown } | null
  if (!err || typeof err !== 'object') return false
  const code = typeof err.code === 'string' ? err.code : ''
  if (code.startsWith('08') || code.startsWith('57P') || code === '53300' || NETWORK_ERRNOS.has(code))
    return true
  const message = typeof err.message === 'string' ? err.message : ''
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection refused/i.test(
    message,
  )
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`, for messages. */
export function redactUrl(url: string): string {
  return url.replace(/^(postgres(?:ql)?:\/\/[^:/@]*):[^@/]*@/, '$1:***@')
}

/** int8 (bigint: epoch-ms timestamps, sizes, ids, counts) and numeric (sums) as JS numbers: they fit in 2^53. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8 || oid === pg.types.builtins.NUMERIC) return (v: string) => Number(v)
    return pg.types.getTypeParser(oid, format)
  },
}

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 1_000

/**
 * A pg Pool as Kysely wants it, that survives the server going away: the pool's `error` event (an idle
 * connection cut by a restart) is handled, broken connections are destroyed rather than reused, connection
 * failures surface as AsoError('unavailable') so the agent's loops retry, and while the server is down one
 * probe at a time reconnects, with exponential backoff (0.1 s doubling to 1 s), instead of every caller. The
 * cap stays well under an agent's lease: after an outage every agent is back within a second, before any of
 * them judges the others' heartbeats.
 */
export class ReconnectingPool implements PostgresPool {
  private readonly pool: pg.Pool
  private readonly target: string
  private down: { since: number; delay: number; retryAt: number; lastError: string } | null = null
  private probe: Promise<void> | null = null
  /** until the first connection, a failure is the caller's error to report, not a lost connection */
  private connected = false
  private readonly clients = new WeakMap<pg.PoolClient, GuardedClient>()

  constructor(
    url: string,
    private readonly log: StoreLog,
    opts: { max?: number } = {},
  ) {
    this.target = redactUrl(url)
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 10,
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      keepAlive: true,
      application_name: 'aso',
      types,
    })
    // without a listener, an idle connection cut by the server (restart, failover) kills the process
    this.pool.on('error', (e) => {
      // the pool has dropped the connection already; a lost server is logged once, by markDown
      if (isConnectionError(e)) this.markDown(e)
      else this.log.warn({ database: this.target, err: e.message }, 'an idle PostgreSQL connection failed')
    })
  }

  async connect(): Promise<PostgresPoolClient> {
    if (this.down) await this.reconnect()
    let client: pg.PoolClient
    try {
      client = await this.pool.connect()
    } catch (e) {
      throw this.failure(e)
    }
    this.markUp()
    let guarded = this.clients.get(client)
    if (!guarded) {
      guarded = new GuardedClient(client, this)
      this.clients.set(client, guarded)
    }
    return guarded
  }

  async end(): Promise<void> {
    await this.pool.end()
  }

  /** Maps a driver error: connection errors become AsoError('unavailable') and start the backoff. */
  failure(e: unknown): unknown {
    if (!isConnectionError(e)) return e
    this.markDown(e)
    return new AsoError(
      'unavailable',
      `PostgreSQL at ${this.target} is unreachable (${(e as Error).message}); ASO reconnects by itself, ` +
        'check that the server is running if this lasts',
      { cause: e },
    )
  }

  private markDown(e: unknown): void {
    const now = Date.now()
    const message = (e as Error)?.message ?? String(e)
    if (!this.down) {
      if (!this.connected) return
      this.log.warn(
        { database: this.target, err: message },
        'PostgreSQL connection lost; reconnecting with backoff',
      )
      this.down = { since: now, delay: BACKOFF_MIN_MS, retryAt: now + BACKOFF_MIN_MS, lastError: message }
      return
    }
    this.down.lastError = message
  }

  private markUp(): void {
    this.connected = true
    if (!this.down) return
    this.log.info(
      { database: this.target, downMs: Date.now() - this.down.since },
      'PostgreSQL reachable again',
    )
    this.down = null
  }

  /** One probe connection after the backoff delay; callers meanwhile wait for its verdict. */
  private reconnect(): Promise<void> {
    this.probe ??= (async () => {
      try {
        const d = this.down
        if (!d) return
        const wait = d.retryAt - Date.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        try {
          const c = await this.pool.connect()
          c.release()
          this.markUp()
        } catch (e) {
          const next = Math.min(d.delay * 2, BACKOFF_MAX_MS)
          if (this.down) Object.assign(this.down, { delay: next, retryAt: Date.now() + next })
          throw this.failure(e)
        }
      } finally {
        this.probe = null
      }
    })()
    return this.probe
  }
}

/** A pooled client whose errors are mapped and which is destroyed, not reused, once its connection broke. */
class GuardedClient implements PostgresPoolClient {
  private broken = false

  constructor(
    private readonly client: pg.PoolClient,
    private readonly owner: ReconnectingPool,
  ) {
    // a connection cut while checked out (between two statements of a transaction) emits `error` on the
    // client itself, where the pool does not listen: unhandled, it would end the process
    client.on('error', (e) => {
      this.broken = true
      owner.failure(e)
    })
  }

  query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
  query(cursor: never): never
  async query<R>(sql: string, parameters?: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> {
    try {
      return (await this.client.query(sql, parameters as unknown[])) as unknown as PostgresQueryResult<R>
    } catch (e) {
      if (isConnectionError(e)) this.broken = true
      throw this.owner.failure(e)
    }
  }

  release(destroy?: boolean): void {
    this.client.release(destroy || this.broken)
  }
}
