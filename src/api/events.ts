/**
 * `/api/v1/events`: Server-Sent Events of state changes, one `transition` event per history row, in id order
 * (publication changes included: they are history rows too, and each event carries the publication state).
 * The SSE id is the history row id, so a client that reconnects with Last-Event-ID misses nothing. The store
 * is polled (every `pollMs`, at once after an in-process change); it returns ids in commit order.
 */
import { once } from 'node:events'
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod'
import { z } from 'zod'
import { ERROR_RESPONSES, eventsQuerySchema } from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import { callerOf } from './auth/authenticate.js'
import { ownerScope } from './auth/authorize.js'
import type { ApiContext } from './context.js'
import { API_CSP } from './security-headers.js'

/** Events read per store call; a stream that is behind reads page after page without waiting. */
const PAGE = 500
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000

function lastEventIdHeader(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value
  if (v === undefined || v === '') return undefined
  if (!/^\d{1,15}$/.test(v)) {
    throw new AsoError('invalid-request', 'Last-Event-ID must be the id of an event this stream sent', {
      field: 'Last-Event-ID',
    })
  }
  return Number(v)
}

export const eventRoutes: FastifyPluginAsyncZod<ApiContext> = async (app, ctx) => {
  const streams = new Set<AbortController>()
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort()
  })

  app.route({
    method: 'GET',
    url: '/events',
    schema: {
      operationId: 'streamEvents',
      summary: 'Server-Sent Events of state changes (filtered by user and task; resumable)',
      description:
        'Each event: `id` = event id, `event: transition`, `data` = a TransferEvent, whose `publication` is the file’s publication state after it (publication changes come as events from DONE to DONE). Reconnect with the Last-Event-ID header (or ?lastEventId=) to resume. Without one, a stream filtered by task starts with the task’s whole history, any other stream with the next change.',
      tags: ['events'],
      querystring: eventsQuerySchema,
      response: {
        ...ERROR_RESPONSES,
        200: z.string().meta({
          description: 'the stream: `id:`, `event: transition` and `data:` (a TransferEvent, JSON) per event',
          contentMediaType: 'text/event-stream',
        }),
      },
    },
    handler: async (request, reply) => {
      const { identity } = callerOf(request)
      const q = request.query
      const user = ownerScope(identity, q.user, 'follow the events of')
      const filter = {
        ...(user !== undefined ? { user } : {}),
        ...(q.task !== undefined ? { task: q.task } : {}),
      }
      let last =
        lastEventIdHeader(request.headers['last-event-id']) ??
        q.lastEventId ??
        (q.task !== undefined ? 0 : await ctx.store.latestEventId())

      reply.hijack()
      const res = reply.raw
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
        // the answer is hijacked: the onSend hook that adds these to every other answer does not run
        'Content-Security-Policy': API_CSP,
        'X-Frame-Options': 'DENY',
        'X-Content-Type-Options': 'nosniff',
      })
      const gone = new AbortController()
      streams.add(gone)
      res.once('close', () => gone.abort())
      const write = async (text: string) => {
        if (!res.write(text)) await Promise.race([once(res, 'drain'), once(gone.signal, 'abort')])
      }
      try {
        await write('retry: 2000\n\n')
        let lastWrite = Date.now()
        while (!gone.signal.aborted) {
          const events = await ctx.store.eventsSince(last, filter, PAGE)
          for (const e of events) {
            await write(`id: ${e.id}\nevent: transition\ndata: ${JSON.stringify(e)}\n\n`)
            last = e.id
            lastWrite = Date.now()
          }
          if (events.length === PAGE) continue
          if (Date.now() - lastWrite >= KEEPALIVE_MS) {
            await write(': keep-alive\n\n')
            lastWrite = Date.now()
          }
          await ctx.changes.wait(ctx.pollMs, gone.signal)
        }
      } catch (e) {
        // the headers are sent: the stream can only end; the client reconnects with its Last-Event-ID
        request.log.error({ err: e }, 'event stream failed')
      } finally {
        streams.delete(gone)
        res.end()
      }
    },
  })
}
