import type { FileOutcome } from '../domain/outcome.js'
import type { TransferEngine } from '../engines/types.js'
import type { LoopContext } from './context.js'
import { observeOutcomes } from './metrics.js'
import { outcomePolicy } from './outcome-policy.js'

/** Applies outcomes an engine pushes as they happen, in batches; the poller is the backstop. */
export class Receiver {
  private buffer: FileOutcome[] = []
  private flushing: Promise<void> | null = null
  private readonly done: Promise<void>

  constructor(
    private readonly ctx: LoopContext<'recordOutcomes'>,
    private readonly engine: TransferEngine,
    private readonly onApplied: (terminal: number) => void,
  ) {
    const stream = engine.outcomes?.()
    this.done = stream ? this.consume(stream) : Promise.resolve()
  }

  private async consume(stream: AsyncIterable<FileOutcome>): Promise<void> {
    for await (const o of stream) {
      this.buffer.push(o)
      this.flushing ??= this.flushLoop()
    }
    await this.flushing
  }

  /** Applies everything buffered, batch after batch, until the buffer is empty. */
  private async flushLoop(): Promise<void> {
    try {
      // let a burst of outcomes gather into one transaction
      await new Promise((r) => setImmediate(r))
      while (this.buffer.length) {
        const batch = this.buffer.splice(0, this.ctx.config.agent.batchSize)
        try {
          const summary = await this.ctx.store.recordOutcomes(batch, outcomePolicy(this.ctx, this.engine))
          observeOutcomes(batch)
          this.onApplied(summary.terminal.length)
        } catch (e) {
          // the store is unreachable: keep the outcomes and try again; the poller also covers them
          this.ctx.log.error({ err: e }, 'could not record engine outcomes; retrying')
          this.buffer.unshift(...batch)
          await new Promise((r) => setTimeout(r, 1000))
        }
      }
    } finally {
      this.flushing = null
    }
  }

  /** Outcomes received and not yet applied, or being applied. */
  get busy(): boolean {
    return this.buffer.length > 0 || this.flushing !== null
  }

  /** Resolves once the engine's stream ended and everything received was applied. */
  async drained(): Promise<void> {
    await this.done
    while (this.flushing) await this.flushing
  }

  /** Applies what is buffered now (shutdown). */
  async flush(): Promise<void> {
    this.flushing ??= this.flushLoop()
    await this.flushing
  }
}
