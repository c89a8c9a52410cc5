import { classify } from '../domain/failures.js'
import type { SubmittableTransfer } from '../domain/transfer.js'
import { type EngineJob, EngineSubmitError, type TransferEngine } from '../engines/types.js'
import type { LoopContext } from './context.js'
import { buildEngineJob } from './job-builder.js'
import { submitSeconds } from './metrics.js'
import { SubmittedMarker } from './submitted-marker.js'

export interface HandOverRequest {
  engine: TransferEngine
  /** the engine job's id, already stored with its files (SUBMITTING) before the engine is called */
  jobId: string
  /** the job's files: just claimed, or its open members when it is handed over again */
  transfers: readonly SubmittableTransfer[]
  /** the link's limit, passed on to the engine */
  maxActive: number
  /**
   * Set when the job was handed over before (stuck in SUBMITTING, or taken over from a dead agent): the
   * engine adopts or reruns it under the same id, and a refusal puts its files back in the queue (some may
   * already be SUBMITTED). `resumed`: an earlier run may have left its (partial) copy at the destination.
   */
  resubmission?: { resumed: boolean }
}

/**
 * Hands a SUBMITTING engine job to its engine, for the submitter (first hand-over) and the reaper (again,
 * after a crash): builds the engine job, calls the engine while the job is marked busy, then records the
 * answer (SUBMITTED, deferred, rejected or requeued) and cancels at the engine what was killed meanwhile.
 */
/** The store methods a hand-over uses. */
export type HandOverStore = 'deferSubmission' | 'rejectSubmission' | 'requeueLostJob' | 'markSubmitted'

export class JobHandOver {
  private readonly marker: SubmittedMarker

  constructor(private readonly ctx: LoopContext<HandOverStore>) {
    this.marker = new SubmittedMarker(ctx.store, ctx.agentId, ctx.now)
  }

  async handOver(req: HandOverRequest): Promise<void> {
    const { busyJobs } = this.ctx
    // a caller may hold the mark already (the reaper, for a whole batch): it is the caller's to release then
    const ours = !busyJobs.has(req.jobId)
    busyJobs.add(req.jobId)
    try {
      await this.submit(req)
    } finally {
      if (ours) busyJobs.delete(req.jobId)
    }
  }

  private async submit(req: HandOverRequest): Promise<void> {
    const { store, sites, agentId } = this.ctx
    const { engine, jobId } = req
    const { job, rejected } = buildEngineJob(jobId, req.transfers, sites, {
      overwrite: this.ctx.config.local.overwrite,
      maxActive: req.maxActive,
      resumed: req.resubmission?.resumed,
    })
    if (rejected.length) await store.rejectSubmission(jobId, rejected, this.ctx.now(), agentId)
    if (job.files.length === 0) return
    const endSubmit = submitSeconds.startTimer({ engine: engine.name })
    try {
      await engine.submit(job)
      endSubmit({ result: 'ok' })
    } catch (e) {
      endSubmit({ result: 'error' })
      await this.refused(req, job, e)
      return
    }
    const killing = await this.marker.mark(jobId)
    // files killed while the submit call was in flight: the killer only sees submitted jobs
    if (killing.length) await engine.cancel(jobId, killing)
    if (req.resubmission)
      this.ctx.log.info({ jobId, files: job.files.length }, 'engine job resubmitted under its own id')
  }

  /**
   * The engine call failed. In doubt, the job stays SUBMITTING under its id for the reaper to try again;
   * otherwise a first hand-over is deferred (transient) or rejected with a failure class (for good), and a
   * resubmission's files go back to the queue.
   */
  private async refused(req: HandOverRequest, job: EngineJob, e: unknown): Promise<void> {
    const { store, agentId } = this.ctx
    const { jobId } = req
    if (e instanceof EngineSubmitError && e.inDoubt) {
      // the engine may hold the job: handing its files over under a new id could run them twice
      if (req.resubmission)
        this.ctx.log.warn({ jobId, reason: e.message }, 'resubmission outcome unknown; trying again later')
      else this.ctx.log.warn({ jobId, reason: e.message }, 'submit outcome unknown; left to the reaper')
      return
    }
    if (req.resubmission) {
      await store.requeueLostJob(
        jobId,
        `resubmission failed: ${(e as Error).message}`,
        this.ctx.now(),
        agentId,
      )
      return
    }
    const retryable = !(e instanceof EngineSubmitError) || e.retryable
    const reason =
      e instanceof EngineSubmitError ? e.reason : `TRANSFER [5] submit failed: ${(e as Error).message}`
    this.ctx.log.warn({ jobId, reason, retryable }, 'engine refused a job')
    if (retryable) await store.deferSubmission(jobId, reason, this.ctx.now(), agentId)
    else {
      const c = classify(reason)
      const failures = job.files.map((f) => ({ id: f.transferId, class: c.class, reason }))
      await store.rejectSubmission(jobId, failures, this.ctx.now(), agentId)
    }
  }
}
