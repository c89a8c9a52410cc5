import type { LoopContext } from './context.js'

/** Sends cancels to engines for KILLING files and confirms kills whose engine job is gone. */
export class Killer {
  readonly name = 'killer'

  constructor(
    private readonly ctx: LoopContext<'confirmKilled' | 'getMany' | 'markCancelSent' | 'pendingCancels'>,
  ) {}

  async run(): Promise<number> {
    const { store, agentId } = this.ctx
    let n = 0
    for (const p of await store.pendingCancels(this.ctx.config.agent.batchSize)) {
      const engine = this.ctx.engines.get(p.engine)
      if (!engine) continue
      // a built-in engine job runs inside its agent: only that agent can stop it
      if (!engine.jobsOutliveAgent && p.agentId !== agentId) continue
      const [status] = await engine.status([p.jobId])
      if (status?.state === 'unknown') {
        // the attempt is gone with its engine: remove what it may have left, then confirm
        const members = (await store.getMany(p.ids)).filter((t) => t.state === 'KILLING')
        for (const t of members) {
          try {
            await this.ctx.storage.removeAttemptLeftovers(
              this.ctx.sites.endpoints(t.destination, t.destinationLfn),
            )
          } catch (e) {
            this.ctx.log.warn({ id: t.id, err: (e as Error).message }, 'could not remove a killed attempt')
          }
        }
        n += await store.confirmKilled(p.ids, 'Job canceled by the user', this.ctx.now(), agentId)
      } else {
        await engine.cancel(p.jobId, p.ids)
        n += p.ids.length
      }
      await store.markCancelSent(p.jobId, this.ctx.now())
    }
    return n
  }
}
