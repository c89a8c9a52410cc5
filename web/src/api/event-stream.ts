/**
 * The API's event stream (`/api/v1/events`, Server-Sent Events) read with fetch: EventSource cannot send the
 * Authorization or X-ASO-User header. eventsource-parser does the parsing; on a drop the stream is opened again
 * with Last-Event-ID, so no transition is missed.
 */
import { createParser } from 'eventsource-parser'
import { authHeaders, type Credential } from './session.js'
import type { TransferEvent } from './types.js'

export interface EventStreamHandlers {
  onEvent(e: TransferEvent): void
  onConnected(connected: boolean): void
}

/** Opens the stream and keeps it open until the returned function is called. */
export function openEventStream(credential: Credential | null, handlers: EventStreamHandlers): () => void {
  const stop = new AbortController()
  let lastId: string | undefined
  let retryMs = 2000

  const readOnce = async () => {
    const res = await fetch('/api/v1/events', {
      headers: {
        accept: 'text/event-stream',
        ...authHeaders(credential),
        ...(lastId !== undefined ? { 'last-event-id': lastId } : {}),
      },
      signal: stop.signal,
    })
    if (!res.ok || !res.body) throw new Error(`event stream answered ${res.status}`)
    handlers.onConnected(true)
    const parser = createParser({
      onEvent(m) {
        if (m.id !== undefined) lastId = m.id
        if (m.event === 'transition') handlers.onEvent(JSON.parse(m.data) as TransferEvent)
      },
      onRetry(ms) {
        retryMs = ms
      },
    })
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) return
      parser.feed(value)
    }
  }

  void (async () => {
    while (!stop.signal.aborted) {
      try {
        await readOnce()
      } catch (e) {
        // a closed tab, a logout or a restarted server: the loop decides whether to reconnect
        if (!stop.signal.aborted) console.warn('event stream interrupted; reconnecting', e)
      }
      handlers.onConnected(false)
      if (stop.signal.aborted) return
      await new Promise((r) => setTimeout(r, retryMs))
    }
  })()
  return () => stop.abort()
}
