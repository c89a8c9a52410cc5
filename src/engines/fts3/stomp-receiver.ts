/**
 * FTS completion messages (docs/fts3-rest.md §5): subscribed to `/topic/transfer.fts_monitoring_complete` over
 * STOMP, plain or over TLS (src/stomp: the broker's certificate checked against the CA directory, never a
 * fallback to plain), reconnecting whenever the broker goes away. Only this deployment's messages count: the
 * VO, and `job_metadata` issuer "ASO" with our `instance` (other ASO deployments share the issuer). A message
 * is one JSON object plus a trailing terminator. An Error is final only if FTS will not retry it
 * (`!is_recoverable || retry >= retry_max`): FTS publishes one message per attempt. Messages can be missed
 * (a topic keeps nothing for absent subscribers): polling stays the backstop.
 */
import type { IMessage } from '@stomp/stompjs'
import type { FileOutcome } from '../../domain/outcome.js'
import { type StompConnection, type StompTarget, stompClient } from '../../stomp/index.js'
import { fileTag } from './wire.js'

export interface CompletionFilter {
  /** this deployment's `job_metadata.instance` */
  instance: string
  /** when set, only messages of this VO */
  vo?: string
}

export interface StompReceiverOptions {
  /** the broker, its settings checked (`stompTarget`, `checkStompFiles`) */
  target: StompTarget
  topic: string
  filter: CompletionFilter
  onOutcome(outcome: FileOutcome): void
  log?(level: 'info' | 'warn', message: string): void
}

type Msg = Record<string, unknown>

function objectOf(v: unknown): Msg | null {
  if (typeof v === 'string') {
    try {
      return objectOf(JSON.parse(v))
    } catch (err) {
      // not JSON: no metadata we could read
      void err
      return null
    }
  }
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Msg) : null
}

const EOT = String.fromCharCode(4)

/** The body without its trailing terminator (and any whitespace around it). */
function trimTerminator(body: string): string {
  let end = body.length
  while (end > 0 && (body[end - 1] === EOT || /\s/.test(body[end - 1]!))) end--
  return body.slice(0, end)
}

/** The outcome a completion message announces for one of our files, or null (not ours, not final, unreadable). */
export function outcomeOfMessage(
  body: string,
  headers: Readonly<Record<string, string>>,
  filter: CompletionFilter,
): FileOutcome | null {
  // one terminator character (a space now, EOT once) after the JSON object
  const msg = objectOf(trimTerminator(body))
  if (!msg) return null
  if (filter.vo !== undefined && (headers.vo ?? msg.vo) !== filter.vo) return null
  const job = objectOf(msg.job_metadata)
  if (job?.issuer !== 'ASO' || job.instance !== filter.instance) return null
  const tag = fileTag(msg.file_metadata)
  if (!tag || typeof msg.job_id !== 'string') return null
  const base = {
    jobId: msg.job_id,
    transferId: tag.transferId,
    attempt: tag.attempt,
    method: 'fts3',
    ...(msg.file_id === undefined ? {} : { engineFileId: String(msg.file_id) }),
  }
  switch (msg.t_final_transfer_state) {
    case 'Ok':
      return {
        ...base,
        result: 'done',
        reason: 'copied by FTS, checksums verified',
        ...(typeof msg.file_size === 'number' ? { bytes: msg.file_size } : {}),
        ...(typeof msg.transfer_time === 'number' ? { durationMs: msg.transfer_time } : {}),
      }
    case 'Error': {
      const recoverable = msg.is_recoverable === true
      const retry = Number(msg.retry ?? 0)
      const retryMax = Number(msg.retry_max ?? 0)
      if (recoverable && retry < retryMax) return null
      const scope =
        typeof msg.tr_error_scope === 'string' && msg.tr_error_scope ? `${msg.tr_error_scope} ` : ''
      const text = String(msg.t__error_message ?? '') || 'FTS reported an error without a message'
      return {
        ...base,
        result: 'failed',
        reason: `${scope}[${Number(msg.t_error_code ?? 5)}] ${text}`,
        recoverable,
      }
    }
    case 'Abort':
      return { ...base, result: 'killed', reason: 'Job canceled by the user' }
    default:
      return null
  }
}

/** A STOMP subscription that hands each of our final outcomes to `onOutcome` as it arrives. */
export class CompletionReceiver {
  private readonly connection: StompConnection
  private connectedOnce = false

  constructor(private readonly opts: StompReceiverOptions) {
    const broker = opts.target.endpoint.display
    this.connection = stompClient(opts.target, {
      reconnectDelay: 1000,
      // a broker that died without closing the connection is noticed within a minute
      heartbeatIncoming: 30_000,
      heartbeatOutgoing: 30_000,
      onConnect: () => {
        this.opts.log?.('info', `subscribed to /topic/${opts.topic} at ${broker}`)
        this.connectedOnce = true
        this.connection.client.subscribe(`/topic/${opts.topic}`, (m) => this.receive(m), { ack: 'auto' })
      },
      onWebSocketClose: () => {
        if (this.connectedOnce) this.opts.log?.('warn', `lost the STOMP broker ${broker}; reconnecting`)
        this.connectedOnce = false
      },
      // TLS refused, broker down, login refused, unreadable files: polling covers the messages missed meanwhile
      onProblem: (problem) => this.opts.log?.('warn', `${problem}; retrying, polling covers the meantime`),
    })
  }

  start(): void {
    this.connection.client.activate()
  }

  get connected(): boolean {
    return this.connection.client.connected
  }

  /** why the broker cannot be reached now (TLS, refused, unreadable files); null when connected */
  get problem(): string | null {
    return this.connection.problem()
  }

  async close(): Promise<void> {
    await this.connection.client.deactivate()
  }

  private receive(m: IMessage): void {
    let outcome: FileOutcome | null
    try {
      outcome = outcomeOfMessage(m.body, m.headers, this.opts.filter)
    } catch (err) {
      this.opts.log?.('warn', `unreadable completion message: ${(err as Error).message}`)
      return
    }
    if (outcome) this.opts.onOutcome(outcome)
  }
}
