/**
 * Webhooks: POSTs each terminal state of a file that carries a callbackUrl, from the outbox the store writes
 * with the transition. Each request is signed in the Standard Webhooks form (`webhook-id`, the same on every
 * attempt of one event; `webhook-timestamp`, this attempt's; `webhook-signature: v1,<HMAC of
 * "id.timestamp.body">`), and, deprecated, with `X-ASO-Signature` over the body. A failed delivery is tried
 * again with backoff until `api.callbacks.maxAttempts`. Its own loop: a slow or dead receiver never holds up a
 * transfer.
 */
import { readFile } from 'node:fs/promises'
import { request } from 'undici'
import { backoffDelay } from '../domain/retry-policy.js'
import { legacySignature, webhookHeaders, webhookKey } from '../domain/webhook-signature.js'
import { eachLimit } from '../storage/each-limit.js'
import type { WebhookAttempt, WebhookDelivery } from '../store/ops/webhook-outbox.js'
import type { LoopContext } from './context.js'
import { webhookDeliveries } from './metrics.js'

/** Deliveries in flight at once. */
const CONCURRENCY = 16
/** Delivered notifications are kept this long, for operators, then pruned. */
const KEEP_DELIVERED_MS = 7 * 86_400_000

/** `sha256=<hex>`: the deprecated X-ASO-Signature, recomputed by a receiver over the raw body. */
export function signatureOf(secret: string, body: string): string {
  return legacySignature(secret, body)
}

export class Notifier {
  readonly name = 'notifier'
  private secret: Promise<Buffer | null> | null = null
  private lastPrune = 0

  constructor(
    private readonly ctx: LoopContext<'dueWebhooks' | 'pruneDeliveredWebhooks' | 'recordWebhookAttempts'>,
  ) {}

  /** The HMAC key, or null when callbacks are not configured (nothing is sent). */
  private secretKey(): Promise<Buffer | null> {
    const cb = this.ctx.config.api.callbacks
    this.secret ??= (async () => {
      if (cb.secret !== undefined) return webhookKey(cb.secret, 'api.callbacks.secret')
      if (cb.secretFile === undefined) return null
      const text = (await readFile(cb.secretFile, 'utf8')).trim()
      return webhookKey(text, `api.callbacks.secretFile ${cb.secretFile}`)
    })()
    // a file that could not be read is read again next time (it may appear)
    this.secret.catch(() => {
      this.secret = null
    })
    return this.secret
  }

  async run(): Promise<number> {
    const key = await this.secretKey()
    if (key === null) return 0
    const { store, config } = this.ctx
    const cb = config.api.callbacks
    const batch = config.agent.batchSize
    // long enough for the whole batch, even if every receiver hangs until the timeout
    const lease = Math.ceil(batch / CONCURRENCY) * cb.timeout + 30_000
    const due = await store.dueWebhooks(this.ctx.now(), batch, lease)
    const results: WebhookAttempt[] = []
    await eachLimit(due, CONCURRENCY, async (d) => {
      results.push(await this.deliver(d, key))
    })
    await store.recordWebhookAttempts(results, this.ctx.now())
    if (this.ctx.now() - this.lastPrune > 3_600_000) {
      this.lastPrune = this.ctx.now()
      await store.pruneDeliveredWebhooks(this.lastPrune - KEEP_DELIVERED_MS)
    }
    return due.length
  }

  private async deliver(d: WebhookDelivery, key: Buffer): Promise<WebhookAttempt> {
    const cb = this.ctx.config.api.callbacks
    let error: string
    try {
      const res = await request(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'aso-notifier',
          'x-aso-event': eventOf(d.payload),
          'x-aso-delivery': String(d.id),
          // signed per attempt: the timestamp is this attempt's, the id the event's
          ...webhookHeaders(key, d.messageId, this.ctx.now(), d.payload),
        },
        body: d.payload,
        headersTimeout: cb.timeout,
        bodyTimeout: cb.timeout,
        signal: AbortSignal.timeout(cb.timeout),
      })
      await res.body.dump()
      if (res.statusCode >= 200 && res.statusCode < 300) {
        webhookDeliveries.inc({ outcome: 'delivered' })
        return { id: d.id, outcome: 'delivered' }
      }
      error = `HTTP ${res.statusCode}`
    } catch (e) {
      const err = e as Error & { code?: string; cause?: { code?: string; message?: string } }
      error = [err.code ?? err.cause?.code, err.message].filter(Boolean).join(': ')
    }
    const attempt = d.attempts + 1
    if (attempt >= cb.maxAttempts) {
      webhookDeliveries.inc({ outcome: 'failed' })
      this.ctx.log.warn(
        { url: d.url, transfer: d.transferId, attempts: attempt, error },
        'webhook given up after its last attempt',
      )
      return { id: d.id, outcome: 'failed', error: `${error} (gave up after ${attempt} attempts)` }
    }
    webhookDeliveries.inc({ outcome: 'retry' })
    const delay = backoffDelay(
      { initialMs: cb.backoff.initial, factor: cb.backoff.factor, maxMs: cb.backoff.max, jitter: 0.1 },
      attempt,
    )
    return { id: d.id, outcome: 'retry', nextAttemptAt: this.ctx.now() + delay, error }
  }
}

/** The event type a stored payload carries (transfer.terminal or publication.terminal). */
function eventOf(payload: string): string {
  try {
    return String((JSON.parse(payload) as { type?: unknown }).type ?? 'transfer.terminal')
  } catch {
    return 'transfer.terminal'
  }
}
