/**
 * A @stomp/stompjs Client on our STOMP socket (plain or TLS, socket.ts): every connection attempt first reads
 * what it needs (CA certificates, client certificate, password file), so renewed files are picked up and an
 * unreadable one fails that attempt with its reason, never the whole process. Why an attempt failed goes to
 * `onProblem`: the first time, whenever the reason changes, and once a minute while it lasts.
 */
import { Client, type IFrame, type StompConfig } from '@stomp/stompjs'
import { loadStompCredentials, type StompCredentials, type StompTarget } from './settings.js'
import { explainStompError, openStompSocket } from './socket.js'

export interface StompClientOptions
  extends Omit<
    StompConfig,
    'webSocketFactory' | 'brokerURL' | 'beforeConnect' | 'connectHeaders' | 'onConnect'
  > {
  onConnect?(frame: IFrame): void
  /** why connecting failed (or a connection broke), in words; repeated at most once a minute */
  onProblem?(problem: string): void
}

/** How often one unchanged problem is reported again. */
const REPEAT_MS = 60_000

export interface StompConnection {
  readonly client: Client
  readonly target: StompTarget
  /** why the last attempt failed; null once connected */
  problem(): string | null
}

export function stompClient(target: StompTarget, opts: StompClientOptions = {}): StompConnection {
  const { onConnect, onProblem, onStompError, ...config } = opts
  let creds: StompCredentials | Error = new Error('not prepared')
  let problem: string | null = null
  let reported: { text: string; at: number } | null = null
  const report = (err: Error | string): void => {
    const text = typeof err === 'string' ? err : explainStompError(err, target)
    problem = text
    const now = Date.now()
    if (reported?.text === text && now - reported.at < REPEAT_MS) return
    reported = { text, at: now }
    onProblem?.(text)
  }
  const client = new Client({
    connectionTimeout: 30_000,
    debug: () => {},
    ...config,
    async beforeConnect(c) {
      try {
        creds = await loadStompCredentials(target)
        c.connectHeaders = creds.connectHeaders
      } catch (err) {
        creds = err instanceof Error ? err : new Error(String(err))
      }
    },
    webSocketFactory: () => openStompSocket(target, creds, report),
    // a refused login comes back at every attempt: reported like a socket problem, not once a second
    onStompError(frame) {
      const where = `${target.endpoint.tls ? 'STOMP over TLS' : 'STOMP'} to ${target.endpoint.display}`
      report(`${where}: the broker answered ERROR: ${frame.headers.message ?? frame.body}`)
      onStompError?.(frame)
    },
    onConnect(frame) {
      problem = null
      reported = null
      onConnect?.(frame)
    },
  })
  return { client, target, problem: () => problem }
}
