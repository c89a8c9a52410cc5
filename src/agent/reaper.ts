import { hostname } from 'node:os'
import { formatDuration } from '../domain/duration.js'
import type { FileOutcome } from '../domain/outcome.js'
import type { TransferRecord } from '../domain/transfer.js'
import type { AgentRow } from '../store/ops/agents.js'
import type { LoopContext } from './context.js'
import { type HandOverStore, JobHandOver } from './hand-over.js'
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
 * Recovers what crashes and stalls leave behind, in three steps per cycle, in this order:
 * 1. takeOverDeadAgents: fences the agents found dead and hands their open engine jobs over again;
 * 2. resubmitStuckSubmitting: hands over again this agent's jobs stuck in SUBMITTING (under their own id,
 *    never a second job);
 * 3. cancelStalledJobs: fails (for a retry) and cancels submitted jobs with no progress.
 */
export class Reaper {
  readonly name = 'reaper'
  private readonly host = hostname()
  private readonly jobs: JobHandOver

  constructor(
    private readonly ctx: LoopContext<
      | HandOverStore
      | 'agents'
      | 'confirmKilled'
      | 'engineJobMembers'
      | 'openEngineJobs'
      | 'orphanedJobs'
      | 'recordOutcomes'
      | 'releaseLeases'
      | 'stopAgent'
      | 'takeOverJobs'
    >,
    /** since when this agent has reached the store without a gap (null: it cannot now) */
    private readonly storeReachableSince: () => number | null = () => 0,
  ) {
    this.jobs = new JobHandOver(ctx)
  }

  async run(): Promise<number> {
    const takenOver = await this.takeOverDeadAgents()
    const resubmitted = await this.resubmitStuckSubmitting()
    const cancelled = await this.cancelStalledJobs()
    return takenOver + resubmitted + cancelled
  }

  /**
   * Step 1. Agents whose heartbeat is older than the lease (or whose process is gone on this host) are
   * dead: they are fenced first, then every open engine job no live agent holds is taken over and handed
   * over again.
   */
  private async takeOverDeadAgents(): Promise<number> {
    const now = this.ctx.now()
    const agents = await this.ctx.store.agents()
    const dead = this.deadAgents(agents, now)
    await this.fence(dead, now)
    const live = agents.filter((a) => !dead.includes(a)).map((a) => a.id)
    return this.takeOverOrphans(live, dead, now)
  }

  private deadAgents(agents: readonly AgentRow[], now: number): AgentRow[] {
    const { agentId, config } = this.ctx
    // heartbeats are judged only after a whole lease of our own unbroken access to the store: after an outage
    // (a database restart) every agent's heartbeat is old and none is dead; a dead pid on this host is proof
    const since = this.storeReachableSince()
    const judgeHeartbeats = since !== null && now - since >= config.agent.lease
    // on this host the process table is the truth: a live pid is not dead, however late its heartbeat (a
    // CPU-starved agent declared dead would go on writing destinations its successor owns); only one that
    // has not beaten for ten leases is taken for hung. Elsewhere the heartbeat lease is all there is.
    return agents.filter((a) => {
      if (a.id === agentId) return false
      const late = judgeHeartbeats && a.heartbeatAt < now - config.agent.lease
      if (a.host !== this.host) return late
      return !pidAlive(a.pid) || (judgeHeartbeats && a.heartbeatAt < now - 10 * config.agent.lease)
    })
  }

  /** Marks dead agents stopped: a late heartbeat of theirs then tells them to stop (fencing). */
  private async fence(dead: readonly AgentRow[], now: number): Promise<void> {
    const { store } = this.ctx
    for (const a of dead) await store.stopAgent(a.id, now)
    // their leader lease passes on at once, not when it expires
    if (dead.length) await store.releaseLeases(dead.map((a) => a.id))
  }

  /** Takes over the open engine jobs held by no live agent (a batch per cycle) and hands them over again. */
  private async takeOverOrphans(
    live: readonly string[],
    dead: readonly AgentRow[],
    now: number,
  ): Promise<number> {
    const { store, agentId, config } = this.ctx
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

  /** Step 2. This agent's jobs in SUBMITTING for longer than submitTimeout (a submit that never finished). */
  private async resubmitStuckSubmitting(): Promise<number> {
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
    const members = await this.ctx.store.engineJobMembers(jobId)
    if (members.length === 0) return
    const engine = this.ctx.engines.get(members[0]!.engine ?? '')
    if (!engine) return
    if (!engine.jobsOutliveAgent) await this.confirmKilledWithAgent(members)
    const active = members.filter((t) => t.state === 'SUBMITTING' || t.state === 'SUBMITTED')
    if (active.length === 0) return
    if (engine.jobsOutliveAgent && active.every((t) => t.state === 'SUBMITTED')) return
    const link = this.ctx.sites.link(active[0]!.source, active[0]!.destination)
    await this.jobs.handOver({
      engine,
      jobId,
      transfers: active,
      maxActive: link.maxActive,
      resubmission: { resumed },
    })
  }

  /**
   * Files killed while their attempt ran in an agent that has since stopped (an engine whose jobs die with
   * their agent): nothing is left to cancel, only leftovers to remove.
   */
  private async confirmKilledWithAgent(members: readonly TransferRecord[]): Promise<void> {
    const { store, sites, agentId } = this.ctx
    const killing = members.filter((t) => t.state === 'KILLING')
    if (killing.length === 0) return
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
      this.ctx.now(),
      agentId,
    )
  }

  /**
   * Step 3. Submitted jobs with no progress for stallTimeout: their files fail (to be retried) and the job
   * is cancelled at the engine.
   */
  private async cancelStalledJobs(): Promise<number> {
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
        const members = (await store.engineJobMembers(job.jobId)).filter((t) => t.state === 'SUBMITTED')
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
