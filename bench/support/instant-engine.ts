import { ASO_NAMESPACE, uuid5 } from '../../src/domain/ids.js'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { AsyncQueue } from '../../src/engines/local/async-queue.js'
import type { EngineJob, EngineJobStatus, JobIdContext, TransferEngine } from '../../src/engines/types.js'

/** An engine whose every copy succeeds at once, in process: what is left is ASO's own cost. */
export class InstantEngine implements TransferEngine {
  readonly name = 'local'
  readonly jobsOutliveAgent = false
  private readonly queue = new AsyncQueue<FileOutcome>()
  private readonly jobs = new Map<string, FileOutcome[]>()

  async jobIdFactory(ctx: JobIdContext) {
    return (sid: string) => uuid5(ASO_NAMESPACE, `${ctx.user}\n${sid}`)
  }

  async submit(job: EngineJob): Promise<void> {
    if (this.jobs.has(job.id)) return
    const outcomes = job.files.map((f) => ({
      jobId: job.id,
      transferId: f.transferId,
      attempt: f.attempt,
      result: 'done' as const,
      reason: 'instant',
      method: 'instant',
    }))
    this.jobs.set(job.id, outcomes)
    for (const o of outcomes) this.queue.push(o)
  }

  async status(jobIds: string[]): Promise<EngineJobStatus[]> {
    return jobIds.map((jobId) => {
      const files = this.jobs.get(jobId)
      return files
        ? { jobId, state: 'finished', files, pending: [] }
        : { jobId, state: 'unknown', files: [], pending: [] }
    })
  }

  async cancel(): Promise<void> {}

  outcomes(): AsyncIterable<FileOutcome> {
    return this.queue
  }

  async close(): Promise<void> {
    this.queue.close()
  }
}
