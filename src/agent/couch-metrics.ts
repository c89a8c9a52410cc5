/** The CouchDB bridge's Prometheus metrics (docs/couchdb-bridge.md), in prom-client's default registry. */
import { Counter, Gauge, type Metric, register } from 'prom-client'

function metric<T extends Metric>(name: string, make: () => T): T {
  return (register.getSingleMetric(name) as T | undefined) ?? make()
}

export const couchLagSeconds = metric(
  'aso_couch_feed_lag_seconds',
  () =>
    new Gauge({
      name: 'aso_couch_feed_lag_seconds',
      help: 'seconds since the CouchDB bridge last reached the head of the _changes feed (0: caught up)',
    }),
)

export const couchPendingWriteBacks = metric(
  'aso_couch_writebacks_pending',
  () =>
    new Gauge({
      name: 'aso_couch_writebacks_pending',
      help: 'CouchDB documents whose write-back is due',
    }),
)

export const couchDocuments = metric(
  'aso_couch_documents_total',
  () =>
    new Counter({
      name: 'aso_couch_documents_total',
      help: 'CouchDB documents the bridge acted on, by outcome (ingested, refused, kill, retry, ignored)',
      labelNames: ['outcome'] as const,
    }),
)

export const couchWrites = metric(
  'aso_couch_writebacks_total',
  () =>
    new Counter({
      name: 'aso_couch_writebacks_total',
      help: 'CouchDB document write-backs, by result (written, conflict, forbidden, error)',
      labelNames: ['result'] as const,
    }),
)
