/**
 * What a ban does to the transfers already queued (docs/fts3-rest.md §1 "Bans"), and to a submission
 * touching a banned storage element.
 */
import type { BanList } from './ban-list.js'
import { FtsHttpError } from './http-errors.js'
import { isFileActive, isFileTerminal, isJobActive, type SimFile, type SimJob } from './job-model.js'
import type { JobStore } from './job-store.js'
import type { TransferScheduler } from './scheduler.js'

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000)

export const STORAGE_BANNED = 'Storage banned'
export const USER_BANNED = 'User banned'

type OnStorage = { job: SimJob; file: SimFile }

/** The files of live jobs reading from or writing to `storage`, for `vo` (`*`: every VO). */
function filesOn(store: JobStore, storage: string, vo: string): OnStorage[] {
  const out: OnStorage[] = []
  for (const job of store.liveJobs()) {
    for (const file of job.files) {
      if (file.sourceSe !== storage && file.destSe !== storage) continue
      if (vo !== '*' && file.voName !== vo) continue
      out.push({ job, file })
    }
  }
  return out
}

function cancelFile(file: SimFile, reason: string, now: number, scheduler: TransferScheduler): void {
  if (file.fileState === 'ACTIVE' || file.fileState === 'READY') scheduler.abort(file.fileId)
  file.fileState = 'CANCELED'
  file.reason = reason
  file.finishTime = wholeSeconds(now)
}

/** status CANCEL: its queued and running files are canceled, a NOT_USED replica takes over; job ids. */
export function cancelTransfersOn(
  store: JobStore,
  scheduler: TransferScheduler,
  storage: string,
  vo: string,
  now = Date.now(),
): string[] {
  const affected = new Set<SimJob>()
  const hit = filesOn(store, storage, vo).filter(
    ({ file }) => isFileActive(file.fileState) || file.fileState === 'NOT_USED',
  )
  for (const { job, file } of hit) {
    affected.add(job)
    cancelFile(file, STORAGE_BANNED, now, scheduler)
    const next = job.files.find((f) => f.fileIndex === file.fileIndex && f.fileState === 'NOT_USED')
    if (next) next.fileState = 'SUBMITTED'
  }
  for (const job of affected) {
    if (!isJobActive(job.jobState) || !job.files.every((f) => isFileTerminal(f.fileState))) continue
    job.jobState = 'CANCELED'
    job.jobFinished = wholeSeconds(now)
    job.reason = null
    store.finished(job)
  }
  return [...affected].map((j) => j.jobId)
}

/** status WAIT: queued files are held (SUBMITTED → ON_HOLD, STAGING → ON_HOLD_STAGING); job ids. */
export function holdTransfersOn(store: JobStore, storage: string, vo: string): string[] {
  const affected = new Set<string>()
  for (const { job, file } of filesOn(store, storage, vo)) {
    if (file.fileState === 'SUBMITTED') file.fileState = 'ON_HOLD'
    else if (file.fileState === 'STAGING') file.fileState = 'ON_HOLD_STAGING'
    else continue
    affected.add(job.jobId)
  }
  return [...affected]
}

/** Unban: every held file of the jobs holding one on `storage` goes back to the queue. */
export function releaseTransfersOn(store: JobStore, storage: string, vo: string): void {
  const jobs = new Set(
    filesOn(store, storage, vo)
      .filter(({ file }) => file.fileState === 'ON_HOLD' || file.fileState === 'ON_HOLD_STAGING')
      .map(({ job }) => job),
  )
  for (const job of jobs) {
    for (const f of job.files) {
      if (f.fileState === 'ON_HOLD') f.fileState = 'SUBMITTED'
      else if (f.fileState === 'ON_HOLD_STAGING') f.fileState = 'STAGING'
    }
  }
}

/** A banned user's unfinished jobs are canceled, files and job with "User banned"; job ids. */
export function cancelJobsOf(
  store: JobStore,
  scheduler: TransferScheduler,
  dn: string,
  now = Date.now(),
): string[] {
  const jobs = store.liveJobs().filter((j) => j.userDn === dn && isJobActive(j.jobState))
  for (const job of jobs) {
    for (const f of job.files) if (isFileActive(f.fileState)) cancelFile(f, USER_BANNED, now, scheduler)
    job.jobState = 'CANCELED'
    job.reason = USER_BANNED
    job.jobFinished = wholeSeconds(now)
    store.finished(job)
  }
  return jobs.map((j) => j.jobId)
}

/**
 * `apply_banning` at submission: a storage banned for the job's VO refuses it (403 "<se> is banned"),
 * unless the ban accepts submissions (WAIT_AS): then its files start on hold.
 */
export function applyBans(job: SimJob, bans: BanList): void {
  for (const file of job.files) {
    let held = false
    for (const se of [file.sourceSe, file.destSe]) {
      const ban = bans.seBanFor(se, file.voName)
      if (!ban) continue
      if (ban.status !== 'WAIT_AS') throw new FtsHttpError(403, `${se} is banned`)
      held = true
    }
    if (!held) continue
    if (file.fileState === 'SUBMITTED') file.fileState = 'ON_HOLD'
    else if (file.fileState === 'STAGING') file.fileState = 'ON_HOLD_STAGING'
  }
}
