/**
 * What the open connections of the API may hold: a cap on connections in total, on long-lived requests (event
 * streams and long-polls) per user and in total, and time limits so that a connection that sends nothing, or
 * sends its request slowly, is closed. Each stream costs memory for as long as it is open; 4,000 of one user
 * once took 460 MB.
 */
import type { Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import type { ApiConfig } from '../config/schema.js'
import { AsoError } from '../domain/errors.js'
import { callerOf } from './auth/authenticate.js'

export type ApiLimits = ApiConfig['limits']

/** Routes whose answer stays open (Server-Sent Events, long-polls): counted per user and in total. */
export const LONG_LIVED_ROUTES = new Set(['/api/v1/events', '/api/v1/tasks/:task/wait'])

/** Counts the long-lived requests open per user and in total, refusing those past the caps. */
export class StreamLimiter {
  private total = 0
  private readonly perUser = new Map<string, number>()

  constructor(private readonly limits: Pick<ApiLimits, 'streams' | 'streamsPerUser'>) {}

  /** Takes a place for `user`'s stream, or refuses: 429 past the user's cap, 503 past the server's. */
  acquire(user: string): () => void {
    const mine = this.perUser.get(user) ?? 0
    if (mine >= this.limits.streamsPerUser) {
      throw new AsoError(
        'too-many-requests',
        `you ("${user}") already have ${mine} event streams or waits open, the most allowed per user: close some (other dashboard tabs, aso wait) before opening another`,
      )
    }
    if (this.total >= this.limits.streams) {
      throw new AsoError(
        'unavailable',
        `the server has ${this.total} event streams and waits open, the most it serves at once: try again in a minute`,
      )
    }
    this.total++
    this.perUser.set(user, mine + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.perUser.get(user) ?? 1) - 1
      if (left > 0) this.perUser.set(user, left)
      else this.perUser.delete(user)
    }
  }

  /** Streams open now (all users). */
  get open(): number {
    return this.total
  }
}

/**
 * Counts the long-lived routes of `app` (to be added after authentication): a place is taken before the
 * handler runs and given back when the connection's answer closes. Such answers may stay silent longer than
 * the idle timeout, so it does not apply to them.
 */
export function limitLongLivedRequests(app: FastifyInstance, limiter: StreamLimiter): void {
  app.addHook('preHandler', async (request, reply) => {
    if (!LONG_LIVED_ROUTES.has(request.routeOptions.url ?? '')) return
    const release = limiter.acquire(callerOf(request).identity.name)
    reply.raw.once('close', release)
    // app.inject()'s stand-in socket has no timer to clear
    request.raw.socket?.setTimeout?.(0)
  })
}

/**
 * Answers 503, with a message, every request that arrives while the server holds more than nine tenths of
 * `connections`, and closes its connection: the last tenth is kept to say so. At the cap itself Node drops new
 * connections unanswered (nothing can be said before a TLS handshake, which is the cost being capped).
 */
export function answerBusyConnections(app: FastifyInstance, limits: ApiLimits): void {
  let open = 0
  app.server.on('connection', (socket: Socket) => {
    open++
    socket.once('close', () => open--)
  })
  const busy = Math.max(1, Math.floor(limits.connections * 0.9))
  app.addHook('onRequest', async (_request, reply) => {
    if (open <= busy) return
    reply.header('connection', 'close')
    throw new AsoError(
      'unavailable',
      `the server has ${open} connections open, near its limit of ${limits.connections}: try again in a minute, and close idle connections (other dashboard tabs, event streams)`,
    )
  })
}

/** Applies the connection caps and time limits to the server before it listens. */
export function limitConnections(server: Server, limits: ApiLimits): void {
  server.maxConnections = limits.connections
  // Node checks these (headers, then the whole request) for requests under way; idleTimeout (server.timeout)
  // closes a connection on which nothing moves, including one that never sends a byte
  server.requestTimeout = limits.requestTimeout
  server.headersTimeout = Math.min(limits.requestTimeout, 60_000)
  server.keepAliveTimeout = limits.keepAliveTimeout
  server.setTimeout(limits.idleTimeout)
}
