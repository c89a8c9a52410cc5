import { chunk } from '../store/dialect.js'
import type { LoopContext } from './context.js'
import { observeOutcomes, pollSeconds } from './metrics.js'
import { outcomePolicy } from './outcome-policy.js'

/** The backstop: asks engines about submitted jobs and applies what they say (bulk, 100 ids a call). */
export class Poller {
  readonly name = 'poller'

  constructor(
    private readonly ctx: LoopContext<
      'openEngineJobs' | 'recordOutcomes' | 'requeueLostJob' | 'touchEngineJobs'
    >,
  ) {}

  async run(): Promise<number> {
    const { store, config } = this.ctx
    let handled = 0
    for (const engine of this.ctx.engines.values()) {
      const now = this.ctx.now()
      const jobs = await store.openEngineJobs({
        engine: engine.name,
        // built-in engine jobs live in their agent: only that agent can ask about them
        agentId: engine.jobsOutliveAgent ? undefined : this.ctx.agentId,
        states: ['SUBMITTED'],
        polledBefore: now - config.agent.pollInterval / 2,
        limit: config.agent.batchSize,
      })
      // a job whose submit (or resubmission) is in flight here is not lost, only not yet handed over
      const idle = jobs.filter((j) => !this.ctx.busyJobs.has(j.jobId))
      for (const part of chunk(idle, 100)) {
        const endPoll = pollSeconds.startTimer({ engine: engine.name })
        const statuses = await engine.status(part.map((j) => j.jobId))
        endPoll()
        const outcomes = statuses.flatMap((s) => s.files)
        if (outcomes.length) await store.recordOutcomes(outcomes, outcomePolicy(this.ctx, engine))
        observeOutcomes(outcomes)
        for (const s of statuses.filter((s) => s.state === 'unknown')) {
          const n = await store.requeueLostJob(
            s.jobId,
            `engine job ${s.jobId} is unknown to ${engine.name}`,
            now,
            this.ctx.agentId,
          )
          if (n) this.ctx.log.warn({ jobId: s.jobId, files: n }, 'engine job lost; files requeued')
        }
        const byId = new Map(part.map((j) => [j.jobId, j]))
        const progressed = statuses
          .filter(
            (s) =>
              s.lastProgressAt !== undefined && s.lastProgressAt > (byId.get(s.jobId)?.lastProgressAt ?? 0),
          )
          .map((s) => s.jobId)
        await store.touchEngineJobs(
          part.map((j) => j.jobId),
          now,
          progressed,
        )
        handled += part.length
      }
    }
    return handled
  }
}
