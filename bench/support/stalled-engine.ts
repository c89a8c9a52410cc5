import { ASO_NAMESPACE, uuid5 } from '../../src/domain/ids.js'
import type { EngineJob, EngineJobStatus, JobIdContext, TransferEngine } from '../../src/engines/types.js'

/** An engine that accepts jobs and never finishes them: the agent idles at its link limits. */
export class StalledEngine implements TransferEngine {
  readonly name = 'local'
  readonly jobsOutliveAgent = false
  private readonly jobs = new Map<string, EngineJob>()

  async jobIdFactory(ctx: JobIdContext) {
    return (sid: string) => uuid5(ASO_NAMESPACE, `${ctx.user}\n${sid}`)
  }

  async submit(job: EngineJob): Promise<void> {
    this.jobs.set(job.id, job)
  }

  async status(jobIds: string[]): Promise<EngineJobStatus[]> {
    return jobIds.map((jobId) => {
      const job = this.jobs.get(jobId)
      return job
        ? {
            jobId,
            state: 'active',
            files: [],
            pending: job.files.map((f) => f.transferId),
            lastProgressAt: Date.now(),
          }
        : { jobId, state: 'unknown', files: [], pending: [] }
    })
  }

  async cancel(): Promise<void> {}
}
