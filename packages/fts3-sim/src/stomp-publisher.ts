/**
 * Publishes completion messages to a STOMP broker as fts-activemq does (docs/fts3-rest.md §5): to a topic,
 * persistent, 24 h TTL, header `vo`, body = the JSON object plus one terminator character (a space).
 * A message stays queued until the broker's receipt for it arrives, and is sent again after a reconnect,
 * as FTS keeps messages in its local dirq until the broker has them (so a message may come twice).
 * Plain STOMP or STOMP over TLS through the product's `aso/stomp` (the broker's certificate checked against the
 * CA directory, an optional client certificate); a TLS failure is reported, never a fallback to plain.
 */
import {
  checkStompFiles,
  type StompFieldNames,
  type StompSettings,
  stompClient,
  stompTarget,
} from 'aso/stomp'

export interface StompTarget extends StompSettings {
  /** default `transfer.fts_monitoring_complete` */
  topic?: string
  /** what the settings are called where they came from (flags), for error messages */
  names?: StompFieldNames
  /** why the broker cannot be reached (TLS refused, broker down, unreadable files): first time, on change */
  onProblem?(problem: string): void
}

export interface CompletionPublisher {
  publish(body: Record<string, unknown>, vo: string): void
  /** messages the broker has not acknowledged yet */
  pending(): number
  close(): Promise<void>
}

/** The settings as `Fts3SimOptions` names them (the CLI passes its flags' names). */
const OPTION_NAMES: StompFieldNames = {
  url: 'stomp.url',
  caDir: 'stomp.caDir',
  cert: 'stomp.cert',
  key: 'stomp.key',
  username: 'stomp.username',
  passwordFile: 'stomp.passwordFile',
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

/** Throws (an Error naming the setting) when the target's settings do not go together or its files are missing. */
export function startStompPublisher(target: StompTarget): CompletionPublisher {
  const checked = stompTarget(target, target.names ?? OPTION_NAMES)
  checkStompFiles(checked)
  const destination = `/topic/${target.topic ?? 'transfer.fts_monitoring_complete'}`
  const queue: Queued[] = []
  let serial = 0
  const { client } = stompClient(checked, {
    reconnectDelay: 250,
    heartbeatIncoming: 0,
    heartbeatOutgoing: 0,
    onConnect: () => flush(),
    onWebSocketClose: () => {
      for (const msg of queue) msg.sent = false
    },
    ...(target.onProblem ? { onProblem: target.onProblem } : {}),
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
