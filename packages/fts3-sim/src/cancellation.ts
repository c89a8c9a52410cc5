/**
 * Cancelling (docs/fts3-rest.md §1, §7): a whole job at once, or some of its files. The database changes
 * at once; running copies are aborted, and their files keep `finish_time` null as the server leaves them.
 */
import { isFileActive, type SimJob } from './job-model.js'
import type { JobStore } from './job-store.js'
import type { TransferScheduler } from './scheduler.js'

export const CANCELED_BY_USER = 'Job canceled by the user'

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000)

/** Cancels every active file of a live, active job and the job itself. */
export function cancelJob(
  job: SimJob,
  store: JobStore,
  scheduler: TransferScheduler,
  now = Date.now(),
): void {
  job.jobState = 'CANCELED'
  job.cancelJob = true
  job.jobFinished = wholeSeconds(now)
  job.reason = CANCELED_BY_USER
  for (const f of job.files) {
    if (!isFileActive(f.fileState)) continue
    const running = f.fileState === 'ACTIVE' || f.fileState === 'READY'
    f.fileState = 'CANCELED'
    f.reason = CANCELED_BY_USER
    f.destSurlUuid = null
    f.finishTime = running ? null : wholeSeconds(now)
    if (running) scheduler.abort(f.fileId)
  }
  store.finished(job)
}

/**
 * `DELETE /jobs/{id}/files/{ids}`: each listed file's new state (or its state, or "File does not belong
 * to the job"); the job goes CANCELED once none of its files is active any more.
 */
export function cancelFiles(
  job: SimJob,
  fileIds: string[],
  store: JobStore,
  scheduler: TransferScheduler,
  now = Date.now(),
): string[] {
  const answers = fileIds.map((id) => {
    const file = /^\d+$/.test(id) ? job.files.find((f) => f.fileId === Number(id)) : undefined
    if (!file) return 'File does not belong to the job'
    if (!isFileActive(file.fileState)) return file.fileState
    if (file.fileState === 'ACTIVE' || file.fileState === 'READY') scheduler.abort(file.fileId)
    file.fileState = 'CANCELED'
    file.finishTime = wholeSeconds(now)
    file.destSurlUuid = null
    return 'CANCELED'
  })
  if (!job.files.some((f) => isFileActive(f.fileState))) {
    job.jobState = 'CANCELED'
    job.cancelJob = true
    job.jobFinished = wholeSeconds(now)
    store.finished(job)
  }
  return answers
}
