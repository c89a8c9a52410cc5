import { hostname } from 'node:os'
import { formatDuration } from '../domain/duration.js'
import type { FileOutcome } from '../domain/outcome.js'
import { EngineSubmitError } from '../engines/types.js'
import type { AgentContext } from './context.js'
import { buildEngineJob } from './job-builder.js'
import { outcomePolicy } from './outcome-policy.js'

/** Whether a process of this host is alive. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Recovers what crashes and stalls leave behind: takes over the jobs of dead agents, resubmits jobs stuck
 * in SUBMITTING under their own id (never a second job), and cancels and retries jobs with no progress.
 */
export class Reaper {
  readonly name = 'reaper'
  private readonly host = hostname()

  constructor(
    private readonly ctx: AgentContext,
    /** since when this agent has reached the store without a gap (null: it cannot now) */
    private readonly storeReachableSince: () => number | null = () => 0,
  ) {}

  async run(): Promise<number> {
    return (await this.takeOverDeadAgents()) + (await this.resubmitStale()) + (await this.cancelStalled())
  }

  /**
   * Agents whose heartbeat is older than the lease (or whose process is gone on this host) are dead: they are
   * marked stopped first (a late heartbeat then tells them to stop: fencing), then every open engine job no
   * live agent holds is taken over and resubmitted under its own id.
   */
  private async takeOverDeadAgents(): Promise<number> {
    const { store, agentId, config } = this.ctx
    const now = this.ctx.now()
    const agents = await store.agents()
    // heartbeats are judged only after a whole lease of our own unbroken access to the store: after an outage
    // (a database restart) every agent's heartbeat is old and none is dead; a dead pid on this host is proof
    const since = this.storeReachableSince()
    const judgeHeartbeats = since !== null && now - since >= config.agent.lease
    // on this host the process table is the truth: a live pid is not dead, however late its heartbeat (a
    // CPU-starved agent declared dead would go on writing destinations its successor owns); only one that
    // has not beaten for ten leases is taken for hung. Elsewhere the heartbeat lease is all there is.
    const dead = agents.filter((a) => {
      if (a.id === agentId) return false
      const late = judgeHeartbeats && a.heartbeatAt < now - config.agent.lease
      if (a.host !== this.host) return late
      return !pidAlive(a.pid) || (judgeHeartbeats && a.heartbeatAt < now - 10 * config.agent.lease)
    })
    for (const a of dead) await store.stopAgent(a.id, now)
    // their leader lease passes on at once, not when it expires
    if (dead.length) await store.releaseLeases(dead.map((a) => a.id))
    const live = agents.filter((a) => !dead.includes(a)).map((a) => a.id)
    const orphans = (await store.orphanedJobs([...live, agentId], config.agent.batchSize)).filter(
      (j) => !this.ctx.busyJobs.has(j),
    )
    if (orphans.length === 0) return 0
    for (const j of orphans) this.ctx.busyJobs.add(j)
    try {
      const jobs = await store.takeOverJobs(orphans, agentId, now)
      if (jobs.length)
        this.ctx.log.warn({ agents: dead.map((a) => a.id), jobs: jobs.length }, 'took over orphaned jobs')
      for (const jobId of jobs) await this.resubmit(jobId, true)
      return jobs.length
    } finally {
      for (const j of orphans) this.ctx.busyJobs.delete(j)
    }
  }

  private async resubmitStale(): Promise<number> {
    const { store, config, agentId } = this.ctx
    const cutoff = this.ctx.now() - config.agent.submitTimeout
    let n = 0
    for (const engine of this.ctx.engines.values()) {
      const stale = await store.openEngineJobs({
        engine: engine.name,
        agentId,
        states: ['SUBMITTING'],
        limit: config.agent.batchSize,
      })
      for (const job of stale) {
        if (job.createdAt > cutoff || this.ctx.busyJobs.has(job.jobId)) continue
        this.ctx.busyJobs.add(job.jobId)
        try {
          await this.resubmit(job.jobId, true)
        } finally {
          this.ctx.busyJobs.delete(job.jobId)
        }
        n++
      }
    }
    return n
  }

  /**
   * Hands a job again to its engine under the same id: after a crash, the engine adopts or (re)runs it.
   * `resumed`: an earlier run of this very attempt may have left its (partial) copy at the destination.
   */
  async resubmit(jobId: string, resumed: boolean): Promise<void> {
    const { store, sites, agentId } = this.ctx
    const members = await store.engineJobMembers(jobId)
    if (members.length === 0) return
    const engine = this.ctx.engines.get(members[0]!.engine ?? '')
    if (!engine) return
    const now = this.ctx.now()
    const killing = members.filter((t) => t.state === 'KILLING')
    if (killing.length && !engine.jobsOutliveAgent) {
      // the attempt died with its agent: nothing to cancel, only leftovers to remove
      for (const t of killing) {
        await this.ctx.storage
          .removeAttemptLeftovers(sites.endpoints(t.destination, t.destinationLfn))
          .catch((e) =>
            this.ctx.log.warn({ id: t.id, err: (e as Error).message }, 'could not remove a killed attempt'),
          )
      }
      await store.confirmKilled(
        killing.map((t) => t.id),
        'Job canceled by the user (its agent had stopped)',
        now,
        agentId,
      )
    }
    const active = members.filter((t) => t.state === 'SUBMITTING' || t.state === 'SUBMITTED')
    if (active.length === 0) return
    if (engine.jobsOutliveAgent && active.every((t) => t.state === 'SUBMITTED')) return
    const link = sites.link(active[0]!.source, active[0]!.destination)
    const { job, rejected } = buildEngineJob(jobId, active, sites, {
      overwrite: this.ctx.config.local.overwrite,
      maxActive: link.maxActive,
      resumed,
    })
    if (rejected.length) await store.rejectSubmission(jobId, rejected, now, agentId)
    try {
      await engine.submit(job)
    } catch (e) {
      // the engine may hold the job (no answer): requeueing under a new id could run it twice; try again later
      if (e instanceof EngineSubmitError && e.inDoubt) {
        this.ctx.log.warn({ jobId, reason: e.message }, 'resubmission outcome unknown; trying again later')
        return
      }
      await store.requeueLostJob(
        jobId,
        `resubmission failed: ${(e as Error).message}`,
        this.ctx.now(),
        agentId,
      )
      return
    }
    const { killing: killedMeanwhile } = await store.markSubmitted(jobId, this.ctx.now(), agentId)
    if (killedMeanwhile.length) await engine.cancel(jobId, killedMeanwhile)
    this.ctx.log.info({ jobId, files: job.files.length }, 'engine job resubmitted under its own id')
  }

  private async cancelStalled(): Promise<number> {
    const { store, config, agentId } = this.ctx
    const now = this.ctx.now()
    let n = 0
    for (const engine of this.ctx.engines.values()) {
      const jobs = await store.openEngineJobs({
        engine: engine.name,
        agentId: engine.jobsOutliveAgent ? undefined : agentId,
        states: ['SUBMITTED'],
        limit: config.agent.batchSize,
      })
      for (const job of jobs.filter((j) => j.lastProgressAt < now - config.agent.stallTimeout)) {
        const members = (await store.engineJobMembers(jobId(job))).filter((t) => t.state === 'SUBMITTED')
        const reason = `TRANSFER [110] no progress from ${engine.name} for ${formatDuration(now - job.lastProgressAt)}; cancelled`
        const outcomes: FileOutcome[] = members.map((t) => ({
          jobId: job.jobId,
          transferId: t.id,
          attempt: t.attempt,
          result: 'failed',
          reason,
        }))
        await store.recordOutcomes(outcomes, outcomePolicy(this.ctx, engine))
        await engine.cancel(job.jobId)
        n += members.length
      }
    }
    return n
  }
}

function jobId(job: { jobId: string }): string {
  return job.jobId
}
