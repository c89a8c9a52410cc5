import type { Selectable } from 'kysely'
import type { FailureClass } from '../domain/failures.js'
import type { TransferState } from '../domain/states.js'
import type {
  PublicationState,
  SourceCleanupState,
  TransferRecord,
  TransferRequest,
  TransferType,
} from '../domain/transfer.js'
import type { EngineJobRow } from './ops/engine-jobs.js'
import type { EngineJobsTable, TransfersTable } from './schema.js'

export type TransferRow = Selectable<TransfersTable>

/** Stored row → domain record. */
export function toRecord(r: TransferRow): TransferRecord {
  return {
    id: r.id,
    user: r.user,
    group: r.grp === '' ? null : r.grp,
    role: r.role === '' ? null : r.role,
    task: r.task,
    jobId: r.job_id,
    jobRetry: Number(r.job_retry),
    type: r.type as TransferType,
    source: r.source,
    sourceLfn: r.source_lfn,
    destination: r.destination,
    destinationLfn: r.destination_lfn,
    size: Number(r.size),
    checksums: { adler32: r.adler32 },
    priority: Number(r.priority),
    activity: r.activity,
    publish: Number(r.publish) === 1,
    dataset: r.dataset,
    callbackUrl: r.callback_url,
    state: r.state as TransferState,
    holdReason: r.hold_reason,
    attempt: Number(r.attempt),
    maxAttempts: Number(r.max_attempts),
    submissions: Number(r.submissions),
    nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
    engine: r.engine,
    engineJobId: r.engine_job_id,
    engineFileId: r.engine_file_id,
    agentId: r.agent_id,
    method: r.method,
    failureClass: r.failure_class as FailureClass | null,
    failureReason: r.failure_reason,
    supersedePending: Number(r.supersede_pending) === 1,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    submittedAt: r.submitted_at === null ? null : Number(r.submitted_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    sourceCleanup: r.source_cleanup as SourceCleanupState,
    cleanupAt: r.cleanup_at === null ? null : Number(r.cleanup_at),
    publicationState: r.publication_state as PublicationState,
    blockName: r.block_name,
    publicationClass: r.publication_class as TransferRecord['publicationClass'],
    publicationReason: r.publication_reason,
  }
}

/** The payload columns of a request (what inject writes and a supersede replaces). */
export function payloadColumns(req: TransferRequest) {
  return {
    user: req.user,
    grp: req.group ?? '',
    role: req.role ?? '',
    task: req.task,
    job_id: req.jobId,
    job_retry: req.jobRetry,
    type: req.type,
    source: req.source,
    source_lfn: req.sourceLfn,
    destination: req.destination,
    destination_lfn: req.destinationLfn,
    size: req.size,
    adler32: req.checksums.adler32,
    priority: req.priority,
    activity: req.activity,
    publish: req.publish ? 1 : 0,
    dataset: req.dataset,
    callback_url: req.callbackUrl,
  }
}

/** The request part of a stored record, to compare payloads. */
export function requestOf(r: TransferRecord): TransferRequest {
  return {
    user: r.user,
    group: r.group,
    role: r.role,
    task: r.task,
    jobId: r.jobId,
    jobRetry: r.jobRetry,
    type: r.type,
    source: r.source,
    sourceLfn: r.sourceLfn,
    destination: r.destination,
    destinationLfn: r.destinationLfn,
    size: r.size,
    checksums: r.checksums,
    priority: r.priority,
    activity: r.activity,
    publish: r.publish,
    dataset: r.dataset,
    callbackUrl: r.callbackUrl,
  }
}

/** Stored engine job row → the store's view of it. */
export function toEngineJobRow(r: Selectable<EngineJobsTable>): EngineJobRow {
  return {
    jobId: r.job_id,
    engine: r.engine,
    agentId: r.agent_id,
    user: r.user,
    group: r.grp === '' ? null : r.grp,
    role: r.role === '' ? null : r.role,
    source: r.source,
    destination: r.destination,
    state: r.state as EngineJobRow['state'],
    files: Number(r.files),
    createdAt: Number(r.created_at),
    submittedAt: r.submitted_at === null ? null : Number(r.submitted_at),
    lastPolledAt: Number(r.last_polled_at),
    lastProgressAt: Number(r.last_progress_at),
    cancelRequestedAt: r.cancel_requested_at === null ? null : Number(r.cancel_requested_at),
    cancelSentAt: r.cancel_sent_at === null ? null : Number(r.cancel_sent_at),
  }
}
