import { type FailureClass, hintFor } from '../../domain/failures.js'
import { TERMINAL_STATES } from '../../domain/states.js'
import type { PublicationState } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import { chunk, type Trx } from '../dialect.js'

/** One webhook notification to send: the body is fixed when the terminal state is recorded. */
export interface WebhookDelivery {
  id: number
  /** the event's `webhook-id`: the same on every attempt, never given to another event */
  messageId: string
  transferId: string
  user: string
  task: string
  url: string
  payload: string
  /** attempts made before this one */
  attempts: number
}

export interface WebhookAttempt {
  id: number
  outcome: 'delivered' | 'retry' | 'failed'
  /** for `retry` */
  nextAttemptAt?: number
  error?: string
}

/** What a notification is about: a file's transfer ended, or its publication did (PUBLISHED or FAILED). */
export type WebhookEvent = 'transfer.terminal' | 'publication.terminal'

/** The body POSTed to a callback URL when a file reaches a terminal state. */
export interface WebhookPayload {
  type: WebhookEvent
  id: string
  user: string
  task: string
  jobId: string
  jobRetry: number
  state: 'DONE' | 'FAILED' | 'KILLED'
  failureClass: string | null
  failureReason: string | null
  /** what the user can do about a failure */
  hint: string | null
  source: string
  sourceLfn: string
  destination: string
  destinationLfn: string
  size: number
  adler32: string
  attempt: number
  /** ISO 8601, UTC */
  finishedAt: string
  /** PENDING: a DONE file that asked for publication is on its way into the catalog; NOT_REQUIRED otherwise */
  publicationState: PublicationState
  /** with publicationState FAILED: catalog-transient or catalog-permanent, and why */
  publicationClass: string | null
  publicationReason: string | null
}

/**
 * Writes an outbox row for each of these records that is terminal and carries a callbackUrl. Called inside
 * the transaction of the terminal transition, so the notification commits (or not) with the state change.
 */
export async function enqueueTerminalNotifications(
  trx: Trx,
  ids: readonly string[],
  now: number,
  type: WebhookEvent = 'transfer.terminal',
) {
  for (const part of chunk(ids, 500)) {
    const rows = await trx
      .selectFrom('transfers')
      .select([
        'id',
        'user',
        'task',
        'job_id',
        'job_retry',
        'state',
        'failure_class',
        'failure_reason',
        'source',
        'source_lfn',
        'destination',
        'destination_lfn',
        'size',
        'adler32',
        'attempt',
        'finished_at',
        'callback_url',
        'publication_state',
        'publication_class',
        'publication_reason',
      ])
      .where('id', 'in', part)
      .where('callback_url', 'is not', null)
      .where('state', 'in', TERMINAL_STATES as string[])
      .execute()
    if (rows.length === 0) continue
    await trx
      .insertInto('webhook_outbox')
      .values(
        rows.map((r) => {
          const payload: WebhookPayload = {
            type,
            id: r.id,
            user: r.user,
            task: r.task,
            jobId: r.job_id,
            jobRetry: Number(r.job_retry),
            state: r.state as WebhookPayload['state'],
            failureClass: r.failure_class,
            failureReason: r.failure_reason,
            hint: r.failure_class ? hintFor(r.failure_class as FailureClass) : null,
            source: r.source,
            sourceLfn: r.source_lfn,
            destination: r.destination,
            destinationLfn: r.destination_lfn,
            size: Number(r.size),
            adler32: r.adler32,
            attempt: Number(r.attempt),
            finishedAt: new Date(Number(r.finished_at ?? now)).toISOString(),
            publicationState: r.publication_state as PublicationState,
            publicationClass: r.publication_class,
            publicationReason: r.publication_reason,
          }
          return {
            transfer_id: r.id,
            user: r.user,
            task: r.task,
            callback_url: r.callback_url as string,
            payload: JSON.stringify(payload),
            state: 'PENDING',
            attempts: 0,
            created_at: now,
            next_attempt_at: now,
            delivered_at: null,
            last_error: null,
          }
        }),
      )
      .execute()
  }
}

/**
 * The `webhook-id` of an outbox row: `msg_<row id>_<created, base 36>`. Both are stored with the row, so every
 * attempt (after a crash too) carries the same id; row ids are never reused (autoincrement, identity), and the
 * creation time keeps an id unique even against a store restored from a backup, whose row ids count again.
 */
export function webhookMessageId(rowId: number, createdAt: number): string {
  return `msg_${rowId}_${createdAt.toString(36)}`
}

/**
 * Notifications due now, claimed for `leaseMs`: the guarded update lets only one notifier take a row, and a
 * notifier that dies mid-delivery leaves its rows to be taken again once the lease has passed.
 */
export async function dueWebhooks(
  trx: Trx,
  now: number,
  limit: number,
  leaseMs: number,
): Promise<WebhookDelivery[]> {
  const due = await trx
    .selectFrom('webhook_outbox')
    .select('id')
    .where('state', '=', 'PENDING')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .orderBy('id')
    .limit(limit)
    .execute()
  if (due.length === 0) return []
  const claimed = await trx
    .updateTable('webhook_outbox')
    .set({ next_attempt_at: now + leaseMs })
    .where(
      'id',
      'in',
      due.map((d) => d.id),
    )
    .where('state', '=', 'PENDING')
    .where('next_attempt_at', '<=', now)
    .returning(['id', 'transfer_id', 'user', 'task', 'callback_url', 'payload', 'attempts', 'created_at'])
    .execute()
  return claimed
    .map((r) => ({
      id: Number(r.id),
      messageId: webhookMessageId(Number(r.id), Number(r.created_at)),
      transferId: r.transfer_id,
      user: r.user,
      task: r.task,
      url: r.callback_url,
      payload: r.payload,
      attempts: Number(r.attempts),
    }))
    .sort((a, b) => a.id - b.id)
}

/** Records delivery attempts: delivered, to be tried again at `nextAttemptAt`, or given up (FAILED). */
export async function recordWebhookAttempts(trx: Trx, results: readonly WebhookAttempt[], now: number) {
  for (const r of results) {
    await trx
      .updateTable('webhook_outbox')
      .set((eb) => ({
        attempts: eb('attempts', '+', 1),
        state: r.outcome === 'delivered' ? 'DELIVERED' : r.outcome === 'retry' ? 'PENDING' : 'FAILED',
        delivered_at: r.outcome === 'delivered' ? now : null,
        next_attempt_at: r.outcome === 'retry' ? r.nextAttemptAt : now,
        last_error: r.error ?? null,
      }))
      .where('id', '=', r.id)
      .where('state', '=', 'PENDING')
      .execute()
  }
}

/** Deletes delivered notifications older than `before` (they are history, kept a while for operators). */
export async function pruneDeliveredWebhooks(trx: Trx, before: number): Promise<number> {
  const r = await trx
    .deleteFrom('webhook_outbox')
    .where('state', '=', 'DELIVERED')
    .where('created_at', '<', before)
    .executeTakeFirst()
  return Number(r.numDeletedRows)
}

/** How many notifications wait for delivery, and how many were given up. */
export async function webhookBacklog(trx: Trx): Promise<{ pending: number; failed: number }> {
  const rows = await trx
    .selectFrom('webhook_outbox')
    .select((eb) => ['state', eb.fn.countAll<number>().as('n')])
    .where('state', 'in', ['PENDING', 'FAILED'])
    .groupBy('state')
    .execute()
  const n = (s: string) => Number(rows.find((r) => r.state === s)?.n ?? 0)
  return { pending: n('PENDING'), failed: n('FAILED') }
}

/** The store's door for the webhook outbox. */
export interface WebhookOps {
  /** webhook notifications due now, claimed for `leaseMs` */
  dueWebhooks(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]>
  recordWebhookAttempts(results: readonly WebhookAttempt[], now: number): Promise<void>
  /** deletes delivered notifications written before `before` */
  pruneDeliveredWebhooks(before: number): Promise<number>
  webhookBacklog(): Promise<{ pending: number; failed: number }>
}

export function webhookOps(s: StoreContext): WebhookOps {
  return {
    dueWebhooks: (now, limit, leaseMs) => s.tx((trx) => dueWebhooks(trx, now, limit, leaseMs)),
    recordWebhookAttempts: async (results, now) => {
      if (results.length) await s.tx((trx) => recordWebhookAttempts(trx, results, now))
    },
    pruneDeliveredWebhooks: (before) => s.tx((trx) => pruneDeliveredWebhooks(trx, before)),
    webhookBacklog: () => s.tx((trx) => webhookBacklog(trx)),
  }
}
