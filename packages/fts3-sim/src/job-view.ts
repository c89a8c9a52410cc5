/** Job, file and retry objects as the REST server serialises its rows (docs/fts3-rest.md §2 "Objects returned"). */
import type { RetryEntry, SimFile, SimJob } from './job-model.js'
import { ftsTime } from './wire-format.js'

export type Json = Record<string, unknown>

/** The t_job row of a job. */
export function jobJson(job: SimJob): Json {
  return {
    job_id: job.jobId,
    source_se: job.sourceSe,
    dest_se: job.destSe,
    job_state: job.jobState,
    job_type: job.jobType,
    cancel_job: job.cancelJob,
    submit_host: job.submitHost,
    user_dn: job.userDn,
    cred_id: job.credId,
    vo_name: job.voName,
    reason: job.reason,
    submit_time: ftsTime(job.submitTime),
    priority: job.priority,
    max_time_in_queue: job.maxTimeInQueue,
    destination_spacetoken: job.destinationSpaceToken,
    internal_job_params: job.internalJobParams,
    dst_file_report: job.dstFileReport,
    // a one-letter column since 3.13.2 (Y, R, M, D, Q), null without overwrite
    overwrite_flag: job.overwriteFlag,
    job_finished: ftsTime(job.jobFinished),
    source_spacetoken: job.sourceSpaceToken,
    copy_pin_lifetime: job.copyPinLifetime,
    verify_checksum: job.verifyChecksum,
    bring_online: job.bringOnline,
    archive_timeout: job.archiveTimeout,
    target_qos: null,
    job_metadata: job.jobMetadata,
    retry: job.retry,
    retry_delay: job.retryDelay,
    os_project_id: null,
  }
}

/** The t_file row of a file. */
export function fileJson(file: SimFile): Json {
  return {
    file_id: file.fileId,
    hashed_id: (file.fileId * 2654435761) % 65536,
    file_index: file.fileIndex,
    job_id: file.jobId,
    dest_surl_uuid: file.destSurlUuid,
    vo_name: file.voName,
    source_se: file.sourceSe,
    dest_se: file.destSe,
    priority: file.priority,
    file_state: file.fileState,
    transfer_host: file.transferHost,
    source_surl: file.sourceSurl,
    dest_surl: file.destSurl,
    staging_host: null,
    reason: file.reason,
    recoverable: file.recoverable,
    filesize: file.filesize,
    checksum: file.checksum,
    finish_time: ftsTime(file.finishTime),
    start_time: ftsTime(file.startTime),
    archive_start_time: null,
    archive_finish_time: null,
    internal_file_params: null,
    pid: file.pid,
    tx_duration: file.txDuration,
    throughput: file.throughput,
    retry: file.retry,
    user_filesize: file.userFilesize,
    file_metadata: file.fileMetadata,
    staging_metadata: file.stagingMetadata,
    archive_metadata: file.archiveMetadata,
    staging_start: ftsTime(file.stagingStart),
    staging_finished: ftsTime(file.stagingFinished),
    selection_strategy: file.selectionStrategy,
    bringonline_token: null,
    log_file: file.logFile,
    log_debug: null,
    activity: file.activity,
    file_state_initial: file.fileStateInitial,
    src_token_id: file.srcTokenId,
    dst_token_id: file.dstTokenId,
    scitag: file.scitag,
  }
}

/** A t_file_retry_errors row. */
export function retryJson(entry: RetryEntry): Json {
  return {
    file_id: entry.fileId,
    attempt: entry.attempt,
    datetime: ftsTime(entry.datetime),
    reason: entry.reason,
    transfer_host: entry.transferHost,
    log_file: entry.logFile,
  }
}

/** `GET /jobs/{id}/{field}`: a column of the job, or its files; undefined when the job has no such attribute. */
export function jobField(job: SimJob, field: string): unknown {
  if (field === 'files') return job.files.map(fileJson)
  const row = jobJson(job)
  return Object.hasOwn(row, field) ? row[field] : undefined
}

/** `?files=a,b`: each file with only the listed fields it has. */
export function fileSubset(file: SimFile, fields: readonly string[]): Json {
  const row = fileJson(file)
  const out: Json = {}
  for (const f of fields) if (Object.hasOwn(row, f)) out[f] = row[f]
  return out
}
