/**
 * The process's Prometheus metrics, in prom-client's default registry (one per process: every API server of
 * the process serves it at /metrics, with prom-client's `process_*` and `nodejs_*`): the agent's latency
 * histograms and counters, the files and bytes ended per link. Kept free of any HTTP code so the
 * loops can import it. The store-wide gauges are not here: the API computes them at each scrape (leader only).
 */
import type { Logger } from 'pino'
import { Counter, Histogram, type Metric, register } from 'prom-client'
import { classify } from '../domain/failures.js'
import type { FileOutcome } from '../domain/outcome.js'
import type { Store } from '../store/store.js'
import type { EndedTransfer } from '../store/transition.js'

/** One instance per name and process, even if this module is evaluated twice (e.g. by a test runner). */
function metric<T extends Metric>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make()
}

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export const submitSeconds = metric(
  'aso_submit_duration_seconds',
  () =>
    new Histogram({
      name: 'aso_submit_duration_seconds',
      help: 'time of one engine submit call',
      labelNames: ['engine', 'result'] as const,
      buckets: LATENCY_BUCKETS,
    }),
)

export const pollSeconds = metric(
  'aso_poll_duration_seconds',
  () =>
    new Histogram({
      name: 'aso_poll_duration_seconds',
      help: 'time of one bulk engine status call (up to 100 jobs)',
      labelNames: ['engine'] as const,
      buckets: LATENCY_BUCKETS,
    }),
)

export const transferredBytes = metric(
  'aso_transferred_bytes_total',
  () =>
    new Counter({
      name: 'aso_transferred_bytes_total',
      help: 'bytes of the files this process’s engines reported done',
    }),
)

export const attemptFailures = metric(
  'aso_attempt_failures_total',
  () =>
    new Counter({
      name: 'aso_attempt_failures_total',
      help: 'failed attempts reported by engines, by failure class',
      labelNames: ['class'] as const,
    }),
)

export const webhookDeliveries = metric(
  'aso_webhook_deliveries_total',
  () =>
    new Counter({
      name: 'aso_webhook_deliveries_total',
      help: 'webhook delivery attempts by outcome (delivered, retry, failed)',
      labelNames: ['outcome'] as const,
    }),
)

/** Counts what engines reported: bytes of files done, failed attempts by class. */
export function observeOutcomes(outcomes: readonly FileOutcome[]): void {
  for (const o of outcomes) {
    if (o.result === 'done') transferredBytes.inc(o.bytes ?? 0)
    else if (o.result === 'failed') attemptFailures.inc({ class: classify(o.reason, o.recoverable).class })
  }
}

/** Catalog calls of the publisher, one per block and attempt, by result (published, transient, permanent). */
export const publicationCalls = metric(
  'aso_publication_calls_total',
  () =>
    new Counter({
      name: 'aso_publication_calls_total',
      help: 'catalog calls of the publisher (one per block and attempt) by result',
      labelNames: ['result'] as const,
    }),
)

export const publicationSeconds = metric(
  'aso_publication_call_duration_seconds',
  () =>
    new Histogram({
      name: 'aso_publication_call_duration_seconds',
      help: 'time of one catalog call publishing one block',
      labelNames: ['result'] as const,
      buckets: LATENCY_BUCKETS,
    }),
)

/** Files that entered DONE, FAILED or KILLED in this process, per link, state and failure class ('' for DONE). */
export const transfersEnded = metric(
  'aso_transfers_ended_total',
  () =>
    new Counter({
      name: 'aso_transfers_ended_total',
      help: 'files that ended (DONE, FAILED, KILLED) by a change this process made, per link, state and failure class',
      labelNames: ['source', 'destination', 'state', 'class'] as const,
    }),
)

/** Their bytes (the declared size), per link and state. */
export const transfersEndedBytes = metric(
  'aso_transfers_ended_bytes_total',
  () =>
    new Counter({
      name: 'aso_transfers_ended_bytes_total',
      help: 'declared bytes of the files that ended by a change this process made, per link and state',
      labelNames: ['source', 'destination', 'state'] as const,
    }),
)

/** Counts one batch of ended records (one counter update per link, state and class) and logs one info line each. */
export function observeEnded(ended: readonly EndedTransfer[], log: Logger): void {
  const groups = new Map<string, { e: EndedTransfer; files: number; bytes: number }>()
  for (const e of ended) {
    const key = `${e.source}\0${e.destination}\0${e.state}\0${e.failureClass}`
    const g = groups.get(key)
    if (g) {
      g.files++
      g.bytes += e.bytes
    } else groups.set(key, { e, files: 1, bytes: e.bytes })
  }
  for (const { e, files, bytes } of groups.values()) {
    transfersEnded.inc(
      { source: e.source, destination: e.destination, state: e.state, class: e.failureClass },
      files,
    )
    transfersEndedBytes.inc({ source: e.source, destination: e.destination, state: e.state }, bytes)
  }
  if (!log.isLevelEnabled('info')) return
  for (const e of ended) {
    log.info(
      {
        transfer: e.id,
        user: e.user,
        task: e.task,
        source: e.source,
        destination: e.destination,
        state: e.state,
        class: e.failureClass || null,
        bytes: e.bytes,
        attempt: e.attempt,
        // from the injection to the change that ended it
        seconds: Math.max(0, (e.endedAt - e.createdAt) / 1000),
        by: e.actor,
      },
      'transfer ended',
    )
  }
}

const watched = new WeakMap<Store, () => void>()

/**
 * Counts and logs the records `store` ends, once per store object whoever asks (the agent, `aso serve` for an
 * API-only replica's kills): every ended record is counted once, by the process whose transaction ended it.
 */
export function watchEndings(store: Pick<Store, 'onEnded'>, log: Logger): void {
  const key = store as Store
  if (watched.has(key)) return
  watched.set(
    key,
    store.onEnded((ended) => observeEnded(ended, log)),
  )
}
