import { classify } from '../domain/failures.js'
import {
  allocateFairShare,
  type FairShareState,
  newFairShareState,
  type QueueDemand,
} from '../domain/fair-share.js'
import { linkKey } from '../domain/transfer.js'
import { EngineSubmitError, type TransferEngine } from '../engines/types.js'
import type { ClaimedJob, Hold, WaitingQueue } from '../store/types.js'
import type { AgentContext } from './context.js'
import { buildEngineJob } from './job-builder.js'
import { SubmittedMarker } from './submitted-marker.js'

function queueKey(q: { user: string; group: string | null; role: string | null }): string {
  return `${q.user}\0${q.group ?? ''}\0${q.role ?? ''}`
}

function isHeld(q: WaitingQueue, holds: readonly Hold[]): boolean {
  return holds.some((h) => h.user === q.user && (h.site === '*' || h.site === q.destination))
}

/**
 * NEW → SUBMITTING → SUBMITTED. Each cycle, for each link with spare capacity, shares the capacity between
 * the users waiting on it (weighted fair share) and hands engines just what the link can start now.
 */
export class Submitter {
  readonly name = 'submitter'
  private readonly fairShare = new Map<string, FairShareState>()
  /** jobs whose submit call is in flight here (the reaper must not resubmit them) */
  readonly inFlight = new Set<string>()
  stopping = false
  private readonly marker: SubmittedMarker

  constructor(private readonly ctx: AgentContext) {
    this.marker = new SubmittedMarker(ctx.store, ctx.agentId, ctx.now)
  }

  async run(): Promise<number> {
    if (this.stopping) return 0
    const { store, sites } = this.ctx
    const now = this.ctx.now()
    const [queues, inFlight, linkSettings, weights, holds] = await Promise.all([
      store.waitingQueues(),
      store.inFlightByLink(),
      store.linkSettings(),
      store.userWeights(),
      store.activeHolds(now),
    ])
    const settings = new Map(linkSettings.map((s) => [s.link, s]))
    const byLink = new Map<string, WaitingQueue[]>()
    for (const q of queues) {
      if (isHeld(q, holds)) continue
      const k = linkKey(q.source, q.destination)
      byLink.set(k, [...(byLink.get(k) ?? []), q])
    }
    const weightOf = (user: string) => weights.get(user) ?? this.ctx.config.users[user]?.weight ?? 1

    let claimedFiles = 0
    const submissions: Promise<void>[] = []
    for (const [link, linkQueues] of byLink) {
      if (this.stopping) break
      const { source, destination } = linkQueues[0]!
      const cfg = sites.link(source, destination)
      const override = settings.get(link)
      if (override?.paused) continue
      const maxActive = override?.maxActive ?? cfg.maxActive
      const capacity = maxActive - (inFlight.get(link) ?? 0)
      if (capacity <= 0) continue
      const engine = this.ctx.engines.get(cfg.engine)
      if (!engine) {
        this.ctx.log.error({ link, engine: cfg.engine }, 'no such engine configured for this link')
        continue
      }
      const state = this.fairShare.get(link) ?? newFairShareState()
      this.fairShare.set(link, state)
      const demands: QueueDemand[] = linkQueues.map((q) => ({
        key: queueKey(q),
        user: q.user,
        waiting: q.waiting,
      }))
      const shares = allocateFairShare(capacity, demands, weightOf, state)
      for (const q of linkQueues) {
        const n = shares.get(queueKey(q)) ?? 0
        if (n <= 0) continue
        const jobIdFor = await engine.jobIdFactory({ ...q })
        const jobs = await store.claimForSubmission({
          ...q,
          limit: n,
          maxActive,
          maxFilesPerJob: cfg.maxFilesPerJob,
          engine: engine.name,
          agentId: this.ctx.agentId,
          now,
          jobIdFor,
        })
        for (const job of jobs) {
          claimedFiles += job.transfers.length
          submissions.push(this.submit(engine, job, maxActive))
        }
      }
    }
    await Promise.all(submissions)
    return claimedFiles
  }

  /** Hands one claimed job to its engine (mark before call: its id is already stored). */
  async submit(engine: TransferEngine, claimed: ClaimedJob, maxActive: number): Promise<void> {
    const { store, sites, agentId } = this.ctx
    const { jobId } = claimed
    this.inFlight.add(jobId)
    try {
      const { job, rejected } = buildEngineJob(jobId, claimed.transfers, sites, {
        overwrite: this.ctx.config.local.overwrite,
        maxActive,
      })
      if (rejected.length) await store.rejectSubmission(jobId, rejected, this.ctx.now(), agentId)
      if (job.files.length === 0) return
      try {
        await engine.submit(job)
      } catch (e) {
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
        return
      }
      const killing = await this.marker.mark(jobId)
      // files killed while the submit call was in flight: the killer only sees submitted jobs
      if (killing.length) await engine.cancel(jobId, killing)
    } finally {
      this.inFlight.delete(jobId)
    }
  }
}
