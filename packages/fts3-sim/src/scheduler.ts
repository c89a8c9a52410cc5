/**
 * The double's FTS daemon: starts queued files (highest priority first, at most `maxActive` at once),
 * expires files queued past `max_time_in_queue`, retries recoverable failures after `retry_delay`,
 * records every attempt and recomputes job states (docs/fts3-rest.md §2, §3).
 */
import { ftsRecoverable } from 'aso/domain/failures'
import { completionMessage } from './completion-message.js'
import { FILE_QUEUED_STATES, isJobActive, type SimFile, type SimJob } from './job-model.js'
import { refreshJobState } from './job-state.js'
import type { JobStore } from './job-store.js'
import type { UrlCopy, UrlCopyResult } from './url-copy.js'

export const QUEUE_TIMEOUT_REASON =
  'Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)'

export interface SchedulerOptions {
  maxActive: number
  /** the server's default `retry` (t_server_config), used when a job asks for 0 */
  serverRetry: number
  /** `retry_delay` 0 means this */
  defaultRetryDelayMs: number
  intervalMs: number
  submitHost: string
  alias: string
  urlCopy: UrlCopy
  /** environment of a job's copy tools (credentials, CA directory) */
  envFor(job: SimJob): Promise<Record<string, string>>
  /** completion messages, one per attempt */
  publish?(message: Record<string, unknown>, vo: string): void
}

const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000)

export class TransferScheduler {
  private readonly running = new Map<number, { controller: AbortController; done: Promise<void> }>()
  private timer: NodeJS.Timeout | undefined
  private closed = false

  constructor(
    private readonly store: JobStore,
    private readonly opts: SchedulerOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs)
    this.timer.unref()
  }

  /** Look at the queue now (after a submission or a finished copy). */
  wake(): void {
    setImmediate(() => this.tick())
  }

  /** Stops the copy of a canceled file; the copy method removes what it wrote. */
  abort(fileId: number): void {
    this.running.get(fileId)?.controller.abort()
  }

  activeCount(): number {
    return this.running.size
  }

  /** The retries a file of this job gets: its own `retry`, the server's for 0, none below 0 or for R/H jobs. */
  maxRetries(job: SimJob): number {
    if (job.jobType === 'R' || job.jobType === 'H') return 0
    if (job.retry > 0) return job.retry
    return job.retry === 0 ? this.opts.serverRetry : 0
  }

  async close(): Promise<void> {
    this.closed = true
    clearInterval(this.timer)
    for (const r of this.running.values()) r.controller.abort()
    await Promise.all([...this.running.values()].map((r) => r.done))
  }

  tick(): void {
    if (this.closed) return
    const now = Date.now()
    const queued: { job: SimJob; file: SimFile }[] = []
    for (const job of this.store.liveJobs()) {
      if (!isJobActive(job.jobState)) continue
      this.expire(job, now)
      for (const file of job.files) {
        if (file.fileState === 'STAGING') this.staged(file, now)
        if (file.fileState === 'SUBMITTED' && file.eligibleAt <= now) queued.push({ job, file })
      }
      if (refreshJobState(job, new Date(now))) this.store.finished(job)
    }
    queued.sort(
      (a, b) =>
        b.job.priority - a.job.priority ||
        a.job.submitTime.getTime() - b.job.submitTime.getTime() ||
        a.file.fileId - b.file.fileId,
    )
    const free = this.opts.maxActive - this.running.size
    for (const { job, file } of queued.slice(0, Math.max(0, free))) this.startFile(job, file)
  }

  /**
   * No tape here: staging ends at once. A stage-in-only file (source = destination, the official client's
   * new_staging_job) is then done, as FTS marks it FINISHED once staged; any other file goes on to its copy.
   */
  private staged(file: SimFile, now: number): void {
    file.stagingStart = file.stagingFinished = wholeSeconds(now)
    if (file.sourceSurl !== file.destSurl) {
      file.fileState = 'SUBMITTED'
      return
    }
    file.fileState = 'FINISHED'
    file.reason = ''
    file.finishTime = wholeSeconds(now)
  }

  /** Files still queued after `max_time_in_queue` are canceled; running ones go on. */
  private expire(job: SimJob, now: number): void {
    if (job.maxTimeInQueue === null || now / 1000 <= job.maxTimeInQueue) return
    for (const f of job.files) {
      if (!(FILE_QUEUED_STATES as readonly string[]).includes(f.fileState)) continue
      f.fileState = 'CANCELED'
      f.reason = QUEUE_TIMEOUT_REASON
      f.finishTime = wholeSeconds(now)
    }
  }

  private startFile(job: SimJob, file: SimFile): void {
    const startedAt = Date.now()
    const retry = file.retry
    file.fileState = 'ACTIVE'
    file.startTime = wholeSeconds(startedAt)
    file.finishTime = null
    file.transferHost = this.opts.submitHost
    file.pid = process.pid
    const attempt = {
      retry,
      method: null,
      startedAt: new Date(startedAt),
      finishedAt: null,
      outcome: null,
      reason: null,
    }
    file.attempts.push(attempt)
    refreshJobState(job, new Date(startedAt))
    const controller = new AbortController()
    const overwrite = job.overwriteFlag === 'Y' || (job.overwriteFlag === 'R' && retry > 0)
    const done = this.opts
      .envFor(job)
      .then((env) =>
        this.opts.urlCopy.run({
          jobId: job.jobId,
          fileId: file.fileId,
          source: file.sourceSurl,
          destination: file.destSurl,
          checksum: file.checksum,
          verifyChecksum: job.verifyChecksum,
          overwrite,
          activity: file.activity,
          priority: job.priority,
          retry,
          signal: controller.signal,
          env,
        }),
      )
      .then((result) => this.settle(job, file, retry, startedAt, result))
      .catch((err: unknown) => {
        process.emitWarning(`FTS3 double: attempt of file ${file.fileId} broke: ${(err as Error).message}`)
      })
      .finally(() => {
        this.running.delete(file.fileId)
        this.wake()
      })
    this.running.set(file.fileId, { controller, done })
  }

  /** Records how an attempt ended: FINISHED, back to SUBMITTED for a retry, FAILED, or ignored if canceled. */
  private settle(job: SimJob, file: SimFile, retry: number, startedAt: number, result: UrlCopyResult): void {
    const finishedAt = Date.now()
    const attempt = file.attempts.at(-1)!
    attempt.finishedAt = new Date(finishedAt)
    attempt.method = result.method
    const aborted = file.fileState !== 'ACTIVE'
    const recoverable = !result.ok && !aborted && ftsRecoverable(result.reason)
    const retryMax = this.maxRetries(job)
    const message = completionMessage({
      job,
      file,
      result,
      aborted,
      retry,
      retryMax,
      recoverable,
      startedAt,
      finishedAt,
      alias: this.opts.alias,
    })
    this.opts.publish?.(message, job.voName)
    if (aborted) {
      // canceled while it ran: a canceled job sees no later changes
      attempt.outcome = 'Abort'
      attempt.reason = 'TRANSFER [125] Transfer canceled'
      return
    }
    attempt.outcome = result.ok ? 'Ok' : 'Error'
    attempt.reason = result.reason
    file.filesize = result.filesize
    if (result.ok) this.finishFile(job, file, result, finishedAt)
    else if (recoverable && retry < retryMax) this.retryFile(job, file, result.reason, finishedAt)
    else this.failFile(job, file, result.reason, finishedAt)
    if (refreshJobState(job, new Date(finishedAt))) this.store.finished(job)
  }

  private finishFile(job: SimJob, file: SimFile, result: UrlCopyResult, now: number): void {
    const seconds = Math.max(0, (result.transferEnd - result.transferStart) / 1000)
    file.fileState = 'FINISHED'
    file.reason = ''
    file.recoverable = false
    file.finishTime = wholeSeconds(now)
    file.txDuration = seconds
    file.throughput = seconds > 0 ? (result.filesize ?? 0) / 1_048_576 / seconds : 0
    if (job.jobType === 'H') this.activateNext(job, (f) => f.fileIndex > file.fileIndex)
  }

  private retryFile(job: SimJob, file: SimFile, reason: string, now: number): void {
    file.retry += 1
    file.retries.push({
      fileId: file.fileId,
      attempt: file.retry,
      datetime: wholeSeconds(now),
      reason,
      transferHost: file.transferHost,
      logFile: file.logFile,
    })
    file.fileState = 'SUBMITTED'
    file.reason = reason
    file.recoverable = true
    file.startTime = null
    file.transferHost = null
    file.pid = null
    file.throughput = 0
    const delayMs = job.retryDelay > 0 ? job.retryDelay * 1000 : this.opts.defaultRetryDelayMs
    file.eligibleAt = now + delayMs
  }

  private failFile(job: SimJob, file: SimFile, reason: string, now: number): void {
    file.fileState = 'FAILED'
    file.reason = reason
    file.recoverable = ftsRecoverable(reason)
    file.finishTime = wholeSeconds(now)
    // a failed replica hands over to the next one
    if (job.jobType === 'R') this.activateNext(job, (f) => f.fileIndex === file.fileIndex)
  }

  private activateNext(job: SimJob, candidate: (f: SimFile) => boolean): void {
    const next = job.files.find((f) => f.fileState === 'NOT_USED' && candidate(f))
    if (next) next.fileState = 'SUBMITTED'
  }
}
