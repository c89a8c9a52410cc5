/** The `ingest:` section of aso.yaml: queues ASO reads transfer requests from besides its API (docs/couchdb-bridge.md). */
import { z } from 'zod'
import { DATASET_NAME } from '../domain/publication.js'
import { duration, serviceUrl } from './fields.js'

/** https://, or http:// to this machine only: credentials never cross a network in clear. */
const couchUrl = serviceUrl({
  example: 'https://couch.example.org:6984',
  schemes: 'http(s)://',
  noUserInfo: 'must not carry a user or password: put them in credentialsFile (user:password)',
})

const couchdb = z.strictObject({
  /** the CouchDB server, e.g. http://127.0.0.1:5984 */
  url: couchUrl,
  /** the database of transfer documents (the original's `asynctransfer`) */
  database: z
    .string()
    .regex(/^[a-z][a-z0-9_$()+/-]*$/, 'must be a CouchDB database name (lower case, starting with a letter)')
    .default('asynctransfer'),
  /** a file holding `user:password` for CouchDB's basic authentication (readable by the agent only) */
  credentialsFile: z.string().min(1).optional(),
  /** `longpoll` (one request per batch) or `continuous` (one open request, a line per change) */
  feed: z.enum(['longpoll', 'continuous']).default('longpoll'),
  /** how long one feed request waits for a change; CouchDB sends a newline every `heartbeat` meanwhile */
  pollTimeout: duration('10s'),
  heartbeat: duration('5s'),
  /** changes read per feed request, documents per _bulk_docs write */
  batchSize: z.number().int().min(1).max(10_000).default(500),
  /** how often pending write-backs are looked at when nothing wakes the loop earlier */
  writeBackInterval: duration('1s'),
  /** per HTTP request (the feed's own wait comes on top) */
  timeout: duration('30s'),
  /** the output dataset of a workflow (CRAB task) whose documents name none (`outputdataset`) */
  outputDatasets: z
    .record(z.string(), z.string().regex(DATASET_NAME, 'must be a dataset name /Primary/Processed/TIER'))
    .default({}),
  /** the feed is "lagging" (aso couch status, /metrics, the dashboard) when not caught up for this long */
  lagWarning: duration('5m'),
})

export const ingest = z.strictObject({
  /** the original ASO's CouchDB queue, followed through its _changes feed */
  couchdb: couchdb.optional(),
})

export type IngestConfig = z.output<typeof ingest>
export type CouchConfig = NonNullable<IngestConfig['couchdb']>
