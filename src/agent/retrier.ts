import type { LoopContext } from './context.js'

/** RETRY → NEW once a file's backoff has passed. */
export class Retrier {
  readonly name = 'retrier'

  constructor(private readonly ctx: LoopContext<'promoteDueRetries'>) {}

  async run(): Promise<number> {
    const n = await this.ctx.store.promoteDueRetries(
      this.ctx.now(),
      this.ctx.config.agent.batchSize,
      this.ctx.agentId,
    )
    if (n) this.ctx.wake('submitter')
    return n
  }
}
