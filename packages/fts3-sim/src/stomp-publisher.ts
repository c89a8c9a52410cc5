/**
 * Publishes completion messages to a STOMP broker as fts-activemq does (docs/fts3-rest.md §5): to a topic,
 * persistent, 24 h TTL, header `vo`, body = the JSON object plus one terminator character (a space).
 * A message stays queued until the broker's receipt for it arrives, and is sent again after a reconnect,
 * as FTS keeps messages in its local dirq until the broker has them (so a message may come twice).
 */
import { Client } from '@stomp/stompjs'
import { TCPWrapper } from '@stomp/tcp-wrapper'

export interface StompTarget {
  /** `stomp://[user:pass@]host:port` (or `tcp://`) */
  url: string
  /** default `transfer.fts_monitoring_complete` */
  topic?: string
}

export interface CompletionPublisher {
  publish(body: Record<string, unknown>, vo: string): void
  /** messages the broker has not acknowledged yet */
  pending(): number
  close(): Promise<void>
}

const DAY_MS = 24 * 3600_000
/** FTS's body terminator (it was `\x04` once). */
export const MESSAGE_TERMINATOR = ' '

interface Queued {
  receipt: string
  body: string
  vo: string
  /** sent on the current connection, receipt awaited */
  sent: boolean
}

export function startStompPublisher(target: StompTarget): CompletionPublisher {
  const u = new URL(target.url.replace(/^(stomp|tcp|stomp\+ssl|ssl):/, 'http:'))
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = Number(u.port || 61613)
  const destination = `/topic/${target.topic ?? 'transfer.fts_monitoring_complete'}`
  const queue: Queued[] = []
  let serial = 0
  const client = new Client({
    webSocketFactory: () => new TCPWrapper(host, port),
    connectHeaders: u.username
      ? { login: decodeURIComponent(u.username), passcode: decodeURIComponent(u.password) }
      : {},
    reconnectDelay: 250,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    debug: () => {},
  })
  const send = (msg: Queued): void => {
    client.watchForReceipt(msg.receipt, () => {
      const i = queue.indexOf(msg)
      if (i >= 0) queue.splice(i, 1)
    })
    client.publish({
      destination,
      body: msg.body,
      headers: { vo: msg.vo, persistent: 'true', expires: String(Date.now() + DAY_MS), receipt: msg.receipt },
    })
    msg.sent = true
  }
  const flush = (): void => {
    for (const msg of queue) {
      if (!client.connected) return
      if (msg.sent) continue
      try {
        send(msg)
      } catch (err) {
        // the connection went away under us: the next connection sends it
        void err
        return
      }
    }
  }
  client.onConnect = flush
  client.onWebSocketClose = () => {
    for (const msg of queue) msg.sent = false
  }
  client.activate()
  return {
    publish(body, vo) {
      queue.push({
        receipt: `fts3-sim-${++serial}`,
        body: JSON.stringify(body) + MESSAGE_TERMINATOR,
        vo,
        sent: false,
      })
      flush()
    },
    pending: () => queue.length,
    async close() {
      const deadline = Date.now() + 2000
      while (queue.length > 0 && client.connected && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await client.deactivate()
    },
  }
}
