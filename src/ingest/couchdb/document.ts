/**
 * The original ASO's transfer document (`asynctransfer`, one per file; ../shared/reference section 1.4) and
 * ASO's records, both ways: a document in state `new` as an inject request (validated as the API validates
 * one), and a transfer's state as the fields the original daemons wrote. Pure functions.
 */
import type { FieldError } from '../../domain/errors.js'
import type { TransferState } from '../../domain/states.js'
import type { TransferRecord } from '../../domain/transfer.js'

/** The states of the original's documents, and `kill` (a kill asked for, Oracle era). */
export type DocState = 'new' | 'acquired' | 'retry' | 'done' | 'failed' | 'killed' | 'kill'

/** The fields the bridge writes; every other field of a document is left as its writers left it. */
export const OWNED_FIELDS = [
  'state',
  'retry_count',
  'failure_reason',
  'start_time',
  'end_time',
  'last_update',
  'lfn',
  'publication_state',
  'publication_note',
] as const

/** ASO's transfer states as the original's document states. KILLING: the kill is asked, not done yet. */
export const DOC_STATE: Record<TransferState, DocState> = {
  NEW: 'new',
  SUBMITTING: 'acquired',
  SUBMITTED: 'acquired',
  RETRY: 'retry',
  KILLING: 'kill',
  DONE: 'done',
  FAILED: 'failed',
  KILLED: 'killed',
}

const PUBLICATION_STATE: Record<string, string | null> = {
  NOT_REQUIRED: null,
  PENDING: 'not_published',
  PUBLISHING: 'publishing',
  PUBLISHED: 'published',
  FAILED: 'publication_failed',
}

/** Request fields named as the document names them, for reasons written back. */
const DOC_FIELD: Record<string, string> = {
  sourceLfn: 'source_lfn',
  destinationLfn: 'destination_lfn',
  task: 'workflow',
  jobId: 'jobid',
  jobRetry: 'job_retry_count',
  'checksums.adler32': 'checksums.adler32',
  checksums: 'checksums',
  dataset: 'outputdataset',
}

export interface RequestOptions {
  /** workflow → output dataset, for documents that name none */
  outputDatasets: Readonly<Record<string, string>>
  /** whether ASO publishes anywhere (aso.yaml catalog:) */
  catalog: boolean
}

export interface DocRequest {
  /** the inject request, for `validateRequest` (unchecked: validation says what is wrong) */
  raw: Record<string, unknown>
  /** why a document that asked for publication is transferred without it (null: nothing to say) */
  publicationNote: string | null
}

const blankToNull = (v: unknown) => (v === '' || v === undefined ? null : v)

/** A document in state `new` as an inject request, with publication only where an output dataset is known. */
export function requestOf(doc: Record<string, unknown>, opts: RequestOptions): DocRequest {
  const checksums = doc.checksums as { adler32?: unknown } | undefined
  const type = doc.type ?? 'output'
  const wantsPublication =
    (doc.publish === 1 || doc.publish === true || doc.publish === '1') && type === 'output'
  const workflow = typeof doc.workflow === 'string' ? doc.workflow : undefined
  const dataset =
    (typeof doc.outputdataset === 'string' && doc.outputdataset !== '' ? doc.outputdataset : undefined) ??
    (workflow !== undefined ? opts.outputDatasets[workflow] : undefined)
  let publicationNote: string | null = null
  let publish = false
  if (wantsPublication) {
    if (dataset === undefined) {
      publicationNote =
        "not published: the document names no output dataset (inputdataset is the parent dataset, not the output's); add outputdataset, or map the workflow in ingest.couchdb.outputDatasets"
    } else if (!opts.catalog) {
      publicationNote = 'not published: this ASO publishes into no catalog (aso.yaml has no catalog: section)'
    } else {
      publish = true
    }
  }
  const jobRetry = doc.job_retry_count
  const raw: Record<string, unknown> = {
    user: doc.user,
    group: blankToNull(doc.group),
    role: blankToNull(doc.role),
    task: doc.workflow,
    jobId: doc.jobid,
    jobRetry: jobRetry === undefined || jobRetry === null ? undefined : jobRetry,
    type,
    source: doc.source,
    sourceLfn: doc.source_lfn ?? doc.lfn,
    destination: doc.destination,
    destinationLfn: doc.destination_lfn,
    size: doc.size,
    checksums: checksums && typeof checksums === 'object' ? { adler32: checksums.adler32 } : checksums,
    publish,
    ...(publish ? { dataset } : {}),
  }
  for (const k of Object.keys(raw)) if (raw[k] === undefined && k !== 'user') delete raw[k]
  return { raw, publicationNote }
}

/** Validation errors as one failure_reason, fields named as the document names them. */
export function describeErrors(errors: readonly FieldError[]): string {
  return `refused by ASO: ${errors.map((e) => `${DOC_FIELD[e.field] ?? e.field} ${e.message}`).join('; ')}`
}

/** Python's str(datetime) in UTC, as the original wrote start_time and end_time. */
export function docTime(ms: number): string {
  const d = new Date(ms)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}000`
}

/** What the bridge knows of a document besides its transfer. */
export interface WriteBackInput {
  transfer: TransferRecord | null
  rejectedReason: string | null
  publicationNote: string | null
}

/**
 * The owned fields to set on `doc` so that it says what ASO knows, or null when it says so already. Fields of
 * others are never in it; a list (retry_count) only grows.
 */
export function writeBackFields(
  doc: Record<string, unknown>,
  w: WriteBackInput,
  now: number,
): { state: string; fields: Record<string, unknown> } | null {
  const want: Record<string, unknown> = {}
  if (w.rejectedReason !== null) {
    want.state = 'failed'
    want.failure_reason = w.rejectedReason
    if (doc.end_time === undefined || doc.end_time === null) want.end_time = docTime(now)
  } else if (w.transfer) {
    const t = w.transfer
    let state: string = DOC_STATE[t.state]
    // a kill asked in the document stays as asked until ASO confirms it (KILLED)
    if (t.state === 'KILLING' && (doc.state === 'killed' || doc.state === 'kill')) state = doc.state
    want.state = state
    const used = t.state === 'RETRY' ? t.attempt : t.attempt - 1
    const list = Array.isArray(doc.retry_count) ? (doc.retry_count as unknown[]) : []
    if (list.length < used) {
      want.retry_count = [...list, ...Array.from({ length: used - list.length }, () => docTime(t.updatedAt))]
    } else if (!Array.isArray(doc.retry_count)) {
      want.retry_count = list
    }
    if ((t.state === 'FAILED' || t.state === 'RETRY' || t.state === 'KILLED') && t.failureReason)
      want.failure_reason = t.failureReason
    if (
      t.submittedAt !== null &&
      (doc.start_time === undefined || doc.start_time === null || doc.start_time === '')
    )
      want.start_time = docTime(t.submittedAt)
    if ((t.state === 'DONE' || t.state === 'FAILED' || t.state === 'KILLED') && t.finishedAt !== null)
      want.end_time = docTime(t.finishedAt)
    if (t.state === 'DONE') want.lfn = t.destinationLfn
    const pub = PUBLICATION_STATE[t.publicationState] ?? null
    if (pub !== null) want.publication_state = pub
    if (w.publicationNote !== null) {
      want.publication_state = pub ?? 'not_required'
      want.publication_note = w.publicationNote
    }
    if (t.publicationState === 'FAILED' && t.publicationReason) want.publication_note = t.publicationReason
  } else {
    return null
  }
  const fields: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(want)) {
    if (JSON.stringify(doc[k]) !== JSON.stringify(v)) fields[k] = v
  }
  if (Object.keys(fields).length === 0) return null
  fields.last_update = Math.floor(now / 1000)
  return { state: String(want.state), fields }
}

/** What a change of the document's state by someone else asks of ASO. */
export type DocIntent = 'none' | 'inject' | 'kill' | 'restore'

/**
 * A new revision of a document the bridge knows: `accounted` are the states it already knows the document to
 * hold (the last it read or wrote, the one a write in flight sets). `new` asks for (re)injection: a retry of a
 * failed or killed file, a newer job retry, or a re-post; `kill`/`killed` a kill; any other state set by
 * someone else is put back to what ASO knows.
 */
export function intentOf(state: unknown, accounted: readonly (string | null)[]): DocIntent {
  // always: a re-post with a higher job_retry_count may come before ASO wrote anything back (injecting is idempotent)
  if (state === 'new') return 'inject'
  if (typeof state === 'string' && accounted.includes(state)) return 'none'
  if (state === 'kill' || state === 'killed') return 'kill'
  return 'restore'
}
