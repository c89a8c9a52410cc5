/**
 * The job state FTS recomputes after each file update (docs/fts3-rest.md §3), counted per `file_index` so
 * that the replicas of one file count once, as the server's SQL does.
 */
import { type FileState, isJobActive, type JobType, type SimJob } from './job-model.js'

export const FILES_FAILED_REASON =
  'One or more files failed. Please have a look at the details for more information'

export interface JobVerdict {
  state: 'FINISHED' | 'FINISHEDDIRTY' | 'FAILED' | 'CANCELED'
  /** '' for FINISHED (the server clears it) */
  reason: string
}

/** The terminal state of a job, or null while it is not terminal. */
export function terminalJobState(
  jobType: JobType,
  files: readonly { fileIndex: number; fileState: FileState }[],
): JobVerdict | null {
  const indexes = (pick: (s: FileState) => boolean): Set<number> =>
    new Set(files.filter((f) => pick(f.fileState)).map((f) => f.fileIndex))
  const total = indexes(() => true).size
  const canceled = indexes((s) => s === 'CANCELED').size
  const finished = indexes((s) => s === 'FINISHED').size
  const notCanceledNorFailed = indexes((s) => s !== 'CANCELED' && s !== 'FAILED').size
  const failed = total - notCanceledNorFailed - canceled
  const done = total === canceled + failed + finished || (jobType === 'H' && failed + canceled > 0)
  if (!done) return null
  if (finished > 0 && failed > 0) {
    return { state: jobType === 'H' ? 'FAILED' : 'FINISHEDDIRTY', reason: FILES_FAILED_REASON }
  }
  if (finished === total) return { state: 'FINISHED', reason: '' }
  if (failed > 0) return { state: 'FAILED', reason: FILES_FAILED_REASON }
  if (canceled > 0) return { state: 'CANCELED', reason: FILES_FAILED_REASON }
  return { state: 'FAILED', reason: 'Inconsistent internal state!' }
}

/**
 * Recomputes a live job's state after one of its files changed; true when the job just became terminal.
 * A terminal job is never changed again (a canceled job sees no later updates).
 */
export function refreshJobState(job: SimJob, now: Date): boolean {
  if (!isJobActive(job.jobState)) return false
  const verdict = terminalJobState(job.jobType, job.files)
  if (verdict) {
    job.jobState = verdict.state
    job.reason = verdict.reason
    job.jobFinished = now
    return true
  }
  if (job.files.some((f) => f.fileState === 'ACTIVE' || f.fileState === 'READY')) job.jobState = 'ACTIVE'
  else if (job.jobState === 'STAGING' && !job.files.some((f) => f.fileState === 'STAGING')) {
    job.jobState = 'SUBMITTED'
  }
  return false
}
