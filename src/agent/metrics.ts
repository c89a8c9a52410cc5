/**
 * The agent's Prometheus metrics, in prom-client's default registry: the API's /metrics serves them when the
 * agent runs in the same process. Kept free of any HTTP code so the loops can import it.
 */
import { Counter, Histogram, type Metric, register } from 'prom-client'
import { classify } from '../domain/failures.js'
import type { FileOutcome } from '../domain/outcome.js'

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
