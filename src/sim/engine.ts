import { ASO_NAMESPACE, uuid5 } from '../domain/ids.js'
import type { FileOutcome } from '../domain/outcome.js'
import { AsyncQueue } from '../engines/local/async-queue.js'
import type { EngineJob, EngineJobStatus, JobIdContext, TransferEngine } from '../engines/types.js'
import type { Cause, CopyEnd, Network } from './network.js'
import { REASONS } from './network.js'

/**
 * How the original ASO (2015 on) ended these causes at once, without a retry (ReporterWorker's fatal-error
 * list): for its baseline the simulated FTS words them so the store fails them at once (class
 * permanent-destination); the report counts them by their cause all the same.
 */
const ORIGINAL_FATAL: Partial<Record<Cause, string>> = {
  quota: 'DESTINATION [1] Operation not permitted: user area full (fatal for the original ASO)',
  'queue-timeout':
    'TRANSFER [1] Operation not permitted: canceled after max time in queue (fatal for the original ASO)',
}

interface QueuedFile {
  job: SimJob
  transferId: string
  attempt: number
  size: number
  enqueuedAt: number
  started: boolean
  ended: boolean
}

interface SimJob {
  id: string
  user: number
  source: number
  destination: number
  outcomes: FileOutcome[]
  pending: number
  lastProgressAt: number
  finishedAt: number | null
}

interface LinkQueue {
  files: QueuedFile[]
  head: number
  running: number
  expiryArmed: number
}

export interface SimEngineOptions {
  /** the original ASO's fatal errors (quota, queue time-out) fail at once */
  originalFatal?: boolean
  /** the cause of each failure, by transfer id (the report's classes) */
  onFailure?: (transferId: string, cause: Cause) => void
}

/** Finished jobs are kept this long (virtual) for the poller to see, then forgotten. */
const FINISHED_TTL_MS = 6 * 3_600_000

/**
 * An FTS-like engine over the simulated network: a queue per link, served first come first served by up to
 * `engineActive × streams` copies at once (FTS's optimizer), where a file waiting longer than
 * `maxTimeInQueueHours` fails with the queue time-out. Outcomes are pushed as the network ends copies.
 */
export class SimEngine implements TransferEngine {
  readonly name = 'local'
  readonly jobsOutliveAgent = false
  private readonly queue = new AsyncQueue<FileOutcome>()
  private readonly jobs = new Map<string, SimJob>()
  private readonly queues = new Map<number, LinkQueue>()
  private readonly finished: SimJob[] = []
  private readonly maxQueueMs: number

  constructor(
    private readonly net: Network,
    private readonly opts: SimEngineOptions = {},
  ) {
    this.maxQueueMs = net.world.scenario.maxTimeInQueueHours * 3_600_000
  }

  async jobIdFactory(ctx: JobIdContext) {
    return (sid: string) => uuid5(ASO_NAMESPACE, `${ctx.user}\n${ctx.source}\n${ctx.destination}\n${sid}`)
  }

  async submit(job: EngineJob): Promise<void> {
    if (this.jobs.has(job.id)) return
    const w = this.net.world
    const now = this.net.now()
    const source = w.siteIndex.get(job.source)
    const destination = w.siteIndex.get(job.destination)
    const user = w.userIndex.get(job.user)
    if (source === undefined || destination === undefined || user === undefined)
      throw new Error(`the simulated world has no ${job.source}, ${job.destination} or ${job.user}`)
    const j: SimJob = {
      id: job.id,
      user,
      source,
      destination,
      outcomes: [],
      pending: job.files.length,
      lastProgressAt: now,
      finishedAt: null,
    }
    this.jobs.set(job.id, j)
    const q = this.linkQueue(source, destination)
    for (const f of job.files) {
      q.files.push({
        job: j,
        transferId: f.transferId,
        attempt: f.attempt,
        size: f.size,
        enqueuedAt: now,
        started: false,
        ended: false,
      })
    }
    this.pump(source, destination)
  }

  private linkQueue(source: number, destination: number): LinkQueue {
    const key = source * 65536 + destination
    let q = this.queues.get(key)
    if (!q) {
      q = { files: [], head: 0, running: 0, expiryArmed: Number.POSITIVE_INFINITY }
      this.queues.set(key, q)
    }
    return q
  }

  /** Starts what the link's engine slots allow, expires what waited too long, arms the next expiry. */
  private pump(source: number, destination: number): void {
    const q = this.linkQueue(source, destination)
    const now = this.net.now()
    const slots = Math.max(
      1,
      Math.round(this.net.link(source, destination).streams * this.net.world.scenario.links.engineActive),
    )
    while (q.head < q.files.length) {
      const f = q.files[q.head]!
      if (f.ended) {
        q.head++
        continue
      }
      if (now - f.enqueuedAt >= this.maxQueueMs) {
        q.head++
        this.fail(f, 'queue-timeout', REASONS['queue-timeout'])
        continue
      }
      if (q.running >= slots) break
      q.head++
      q.running++
      f.started = true
      this.net.start(
        { id: f.transferId, user: f.job.user, source, destination, size: f.size },
        (e: CopyEnd) => {
          q.running--
          if (!f.ended) {
            if (e.ok) this.end(f, { result: 'done', reason: 'copied (simulated)', bytes: f.size })
            else this.fail(f, e.cause!, e.reason)
          }
          this.pump(source, destination)
        },
      )
    }
    if (q.head > 4096 && q.head * 2 > q.files.length) {
      q.files.splice(0, q.head)
      q.head = 0
    }
    const first = q.files[q.head]
    if (first && q.running >= slots) {
      const at = first.enqueuedAt + this.maxQueueMs
      if (at < q.expiryArmed) {
        q.expiryArmed = at
        this.net.at(at, () => {
          q.expiryArmed = Number.POSITIVE_INFINITY
          this.pump(source, destination)
        })
      }
    }
  }

  private fail(f: QueuedFile, cause: Cause, reason: string): void {
    this.opts.onFailure?.(f.transferId, cause)
    const text = (this.opts.originalFatal && ORIGINAL_FATAL[cause]) || reason
    this.end(f, { result: 'failed', reason: text })
  }

  private end(f: QueuedFile, o: Pick<FileOutcome, 'result' | 'reason' | 'bytes'>): void {
    f.ended = true
    const j = f.job
    const outcome: FileOutcome = {
      jobId: j.id,
      transferId: f.transferId,
      attempt: f.attempt,
      method: 'sim',
      ...o,
    }
    j.outcomes.push(outcome)
    j.pending--
    j.lastProgressAt = this.net.now()
    if (j.pending === 0) {
      j.finishedAt = this.net.now()
      this.finished.push(j)
    }
    this.queue.push(outcome)
  }

  async status(jobIds: string[]): Promise<EngineJobStatus[]> {
    this.prune()
    return jobIds.map((jobId) => {
      const j = this.jobs.get(jobId)
      if (!j) return { jobId, state: 'unknown', files: [], pending: [] }
      return {
        jobId,
        state: j.pending === 0 ? 'finished' : 'active',
        files: j.outcomes,
        pending: [],
        lastProgressAt: j.lastProgressAt,
      }
    })
  }

  private prune(): void {
    const cutoff = this.net.now() - FINISHED_TTL_MS
    while (this.finished.length && this.finished[0]!.finishedAt! < cutoff) {
      this.jobs.delete(this.finished.shift()!.id)
    }
  }

  /** Cancels queued files (a running copy ends as it would, then reports killed). */
  async cancel(jobId: string, transferIds?: string[]): Promise<void> {
    const j = this.jobs.get(jobId)
    if (!j) return
    const q = this.linkQueue(j.source, j.destination)
    const only = transferIds ? new Set(transferIds) : null
    for (let i = q.head; i < q.files.length; i++) {
      const f = q.files[i]!
      if (f.job !== j || f.ended || f.started || (only && !only.has(f.transferId))) continue
      this.end(f, { result: 'killed', reason: 'canceled by the user' })
    }
  }

  outcomes(): AsyncIterable<FileOutcome> {
    return this.queue
  }

  async close(): Promise<void> {
    this.queue.close()
  }
}
