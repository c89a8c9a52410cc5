import type { LoopContext } from './context.js'

/** How often the pruner looks: buckets are kept for hours (minutes) and weeks (hours), so once a minute is plenty. */
export const ROLLUP_PRUNE_INTERVAL_MS = 60_000

/**
 * Deletes the dashboard's time buckets past their retention (store/migrations/0004). A singleton loop: the
 * buckets are global, one agent prunes them. Each run deletes a bounded range; a long backlog takes a few runs.
 */
export class RollupPruner {
  readonly name = 'rollup-pruner'

  constructor(private readonly ctx: LoopContext<'pruneFinishedBuckets'>) {}

  async run(): Promise<number> {
    const deleted = await this.ctx.store.pruneFinishedBuckets(this.ctx.now())
    // a full batch asks the runner to run again at once
    return deleted > 0 ? this.ctx.config.agent.batchSize : 0
  }
}
