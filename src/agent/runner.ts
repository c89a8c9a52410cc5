import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { AsoConfig } from '../config/schema.js'
import type { StorageRegistry } from '../engines/local/storage.js'
import type { TransferEngine } from '../engines/types.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { Store } from '../store/types.js'
import { Cleaner } from './cleaner.js'
import type { AgentContext } from './context.js'
import { Killer } from './killer.js'
import { Poller } from './poller.js'
import { Reaper } from './reaper.js'
import { Receiver } from './receiver.js'
import { Retrier } from './retrier.js'
import { Submitter } from './submitter.js'

interface Loop {
  name: string
  run(): Promise<number>
}

interface LoopState {
  loop: Loop
  intervalMs: number
  timer: NodeJS.Timeout | null
  running: Promise<void> | null
  again: boolean
  lastRunAt: number
  lastError: string | null
}

export interface AgentOptions {
  config: AsoConfig
  store: Store
  sites: SiteCatalog
  engines: Map<string, TransferEngine>
  storage: StorageRegistry
  log: Logger
  /** called after outcomes were applied (e.g. to update progress displays) */
  onProgress?: () => void
}

export function newAgentId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
}

/**
 * One ASO agent: runs every loop on its interval (sooner when woken), heartbeats, and shuts down
 * gracefully: stop claiming, let copies finish for `shutdownGrace`, return the rest to NEW uncharged.
 */
export class Agent {
  readonly id = newAgentId()
  readonly ctx: AgentContext
  private readonly loops = new Map<string, LoopState>()
  private readonly receivers: Receiver[] = []
  private readonly submitter: Submitter
  private heartbeatTimer: NodeJS.Timeout | null = null
  private stopped = false
  private readonly startedAt = Date.now()

  constructor(private readonly opts: AgentOptions) {
    this.ctx = {
      agentId: this.id,
      config: opts.config,
      store: opts.store,
      sites: opts.sites,
      engines: opts.engines,
      storage: opts.storage,
      log: opts.log.child({ agent: this.id }),
      now: () => Date.now(),
      wake: (name) => this.wake(name),
    }
    const a = opts.config.agent
    this.submitter = new Submitter(this.ctx)
    const loops: [Loop, number][] = [
      [new Reaper(this.ctx, this.submitter), a.reapInterval],
      [this.submitter, a.submitInterval],
      [new Poller(this.ctx), a.pollInterval],
      [new Retrier(this.ctx), a.retryInterval],
      [new Killer(this.ctx), a.submitInterval],
      [new Cleaner(this.ctx), a.cleanInterval],
    ]
    for (const [loop, intervalMs] of loops) {
      this.loops.set(loop.name, {
        loop,
        intervalMs,
        timer: null,
        running: null,
        again: false,
        lastRunAt: 0,
        lastError: null,
      })
    }
  }

  async start(): Promise<void> {
    await this.heartbeat()
    this.heartbeatTimer = setInterval(() => {
      this.heartbeat().catch((e) => this.ctx.log.error({ err: e }, 'heartbeat failed'))
    }, this.opts.config.agent.heartbeatInterval)
    for (const engine of this.opts.engines.values()) {
      this.receivers.push(
        new Receiver(this.ctx, engine, (terminal) => {
          // a finished file frees a slot on its link: submit the next at once
          this.wake('submitter')
          if (terminal) this.wake('cleaner')
          this.opts.onProgress?.()
        }),
      )
    }
    // the reaper first: a restart resumes what the last run left
    await this.runLoop(this.loops.get('reaper')!)
    for (const state of this.loops.values()) if (state.loop.name !== 'reaper') this.schedule(state, 0)
    this.schedule(this.loops.get('reaper')!, this.loops.get('reaper')!.intervalMs)
  }

  /** Asks a loop to run now (or right after its current run). */
  wake(name: string): void {
    const state = this.loops.get(name)
    if (!state || this.stopped) return
    if (state.running) state.again = true
    else this.schedule(state, 0)
  }

  /** When each loop last completed, and its last error: for /health and `aso agents`. */
  loopStatus(): Record<string, { lastRunAt: number; lastError: string | null }> {
    return Object.fromEntries(
      [...this.loops.values()].map((s) => [s.loop.name, { lastRunAt: s.lastRunAt, lastError: s.lastError }]),
    )
  }

  private schedule(state: LoopState, delayMs: number): void {
    if (this.stopped) return
    if (state.timer) clearTimeout(state.timer)
    state.timer = setTimeout(() => {
      state.timer = null
      void this.runLoop(state)
    }, delayMs)
  }

  private async runLoop(state: LoopState): Promise<void> {
    if (state.running) {
      state.again = true
      return state.running
    }
    state.again = false
    let more = false
    state.running = (async () => {
      try {
        const n = await state.loop.run()
        more = n >= this.opts.config.agent.batchSize
        state.lastRunAt = Date.now()
        state.lastError = null
      } catch (e) {
        state.lastError = (e as Error).message
        this.ctx.log.error({ loop: state.loop.name, err: e }, 'loop failed; it will run again')
      }
    })()
    await state.running
    state.running = null
    if (!this.stopped) this.schedule(state, more || state.again ? 0 : state.intervalMs)
  }

  private async heartbeat(): Promise<void> {
    const loops = Object.fromEntries([...this.loops.values()].map((s) => [s.loop.name, s.lastRunAt]))
    await this.opts.store.heartbeat({
      id: this.id,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      heartbeatAt: Date.now(),
      loops,
    })
  }

  /** Graceful stop: no new claims; running copies get `shutdownGrace`; the rest go back to NEW uncharged. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.submitter.stopping = true
    const grace = this.opts.config.agent.shutdownGrace
    await Promise.all([...this.loops.values()].map((s) => s.running))
    this.stopped = true
    for (const s of this.loops.values()) if (s.timer) clearTimeout(s.timer)
    for (const engine of this.opts.engines.values()) await engine.shutdown?.(grace)
    for (const r of this.receivers) await r.flush()
    // jobs the engine never got to (and whose outcomes were not pushed) go back to the queue
    for (const engine of this.opts.engines.values()) {
      if (engine.jobsOutliveAgent) continue
      const open = await this.ctx.store.openEngineJobs({
        engine: engine.name,
        agentId: this.id,
        states: ['SUBMITTING', 'SUBMITTED'],
        limit: 100_000,
      })
      for (const j of open) {
        await this.ctx.store.requeueLostJob(j.jobId, 'agent stopped before the copy ran', Date.now(), this.id)
      }
    }
    for (const engine of this.opts.engines.values()) await engine.close?.()
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    await this.opts.store.stopAgent(this.id, Date.now())
  }
}
