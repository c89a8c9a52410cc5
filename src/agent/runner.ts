import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog.js'
import type { AsoConfig } from '../config/schema.js'
import type { TransferEngine } from '../engines/types.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { StorageRegistry } from '../storage/registry.js'
import type { Store } from '../store/store.js'
import { Cleaner } from './cleaner.js'
import type { AgentContext } from './context.js'
import { CouchIngest, CouchLink, CouchWriteBack } from './couch-bridge.js'
import { CredentialWatcher } from './credential-watcher.js'
import { Killer } from './killer.js'
import { LinkTuner } from './link-tuner.js'
import { watchEndings } from './metrics.js'
import { Notifier } from './notifier.js'
import { Poller } from './poller.js'
import { Publisher } from './publisher.js'
import { Reaper } from './reaper.js'
import { Receiver } from './receiver.js'
import { Retrier } from './retrier.js'
import { ROLLUP_PRUNE_INTERVAL_MS, RollupPruner } from './rollup-pruner.js'
import { Submitter } from './submitter.js'

interface Loop {
  name: string
  run(): Promise<number>
  /** cuts a long wait in progress (the CouchDB feed's), when the agent stops */
  stop?(): void
}

/**
 * Where the agent reads the time and sets its timers: the wall clock in production, a virtual one in
 * `aso simulate` (src/sim/clock.ts), which jumps to the next due timer instead of sleeping.
 */
export interface AgentClock {
  now(): number
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

export const wallClock: AgentClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
}

interface LoopState {
  loop: Loop
  intervalMs: number
  timer: unknown
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
  /** the catalog delivered outputs are published into (aso.yaml catalog:) */
  catalog?: Catalog
  log: Logger
  /** called after outcomes were applied (e.g. to update progress displays) */
  onProgress?: () => void
  /** called when the agent had to stop because another agent declared it dead */
  onFenced?: () => void
  /** the time and timers every loop runs by (default: the wall clock) */
  clock?: AgentClock
}

/** Loops that run on one agent at a time, the holder of the leader lease (their work is global). */
export const SINGLETON_LOOPS: ReadonlySet<string> = new Set([
  'retrier',
  'cleaner',
  'rollup-pruner',
  'publisher',
  'couch-ingest',
  'couch-writeback',
  'link-tuner',
])
export const LEADER_LEASE = 'leader'

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
  private heartbeatTimer: unknown = null
  private stopped = false
  private started = false
  private readonly clock: AgentClock
  private readonly startedAt: number
  /** since when every heartbeat reached the store (null after a failure): the reaper judges others by it */
  private storeReachableSince: number | null = null
  /** this agent runs the singleton loops until then (its leader lease, renewed with each heartbeat) */
  private leaderUntil = 0
  /** the CouchDB database followed (aso.yaml ingest.couchdb), if any */
  private readonly couch: CouchLink | null
  /** the heartbeat in progress, if any (a simulation waits for it before moving its clock) */
  private heartbeating: Promise<void> | null = null

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? wallClock
    this.startedAt = this.clock.now()
    const clock = this.clock
    this.ctx = {
      agentId: this.id,
      config: opts.config,
      store: opts.store,
      sites: opts.sites,
      engines: opts.engines,
      storage: opts.storage,
      catalog: opts.catalog,
      log: opts.log.child({ agent: this.id }),
      now: () => clock.now(),
      wake: (name) => this.wake(name),
      busyJobs: new Set(),
    }
    const a = opts.config.agent
    this.submitter = new Submitter(this.ctx)
    const loops: [Loop, number][] = [
      [new Reaper(this.ctx, () => this.storeReachableSince), a.reapInterval],
      [this.submitter, a.submitInterval],
      [new Poller(this.ctx), a.pollInterval],
      [new Retrier(this.ctx), a.retryInterval],
      [new Killer(this.ctx), a.submitInterval],
      [new CredentialWatcher(this.ctx), a.retryInterval],
      [new Cleaner(this.ctx), a.cleanInterval],
      [new Notifier(this.ctx), a.notifyInterval],
      [new Publisher(this.ctx), a.publishInterval],
      [new LinkTuner(this.ctx), a.tuneInterval],
      [new RollupPruner(this.ctx), ROLLUP_PRUNE_INTERVAL_MS],
    ]
    const couch = opts.config.ingest?.couchdb
    this.couch = couch ? new CouchLink(couch) : null
    if (couch && this.couch) {
      loops.push(
        [new CouchIngest(this.ctx, this.couch), 1000],
        [new CouchWriteBack(this.ctx, this.couch), couch.writeBackInterval],
      )
    }
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
    // files this process ends are counted per link and logged (once per store, whoever asked first)
    watchEndings(this.opts.store, this.ctx.log)
    await this.heartbeat()
    const beat = () => {
      this.heartbeatTimer = this.clock.setTimeout(() => {
        this.heartbeating = this.heartbeat()
          .catch((e) => {
            this.storeReachableSince = null
            this.ctx.log.error({ err: e }, 'heartbeat failed')
          })
          .finally(() => {
            this.heartbeating = null
            if (!this.stopped) beat()
          })
      }, this.opts.config.agent.heartbeatInterval)
    }
    beat()
    for (const engine of this.opts.engines.values()) {
      this.receivers.push(
        new Receiver(this.ctx, engine, (terminal) => {
          // a finished file frees a slot on its link: submit the next at once
          this.wake('submitter')
          if (terminal) {
            this.wake('cleaner')
            this.wake('notifier')
            this.wake('publisher')
          }
          this.opts.onProgress?.()
        }),
      )
    }
    // the reaper first: a restart resumes what the last run left
    await this.runLoop(this.loops.get('reaper')!)
    for (const state of this.loops.values()) if (state.loop.name !== 'reaper') this.schedule(state, 0)
    this.started = true
    this.schedule(this.loops.get('reaper')!, this.loops.get('reaper')!.intervalMs)
  }

  /** Asks a loop to run now (or right after its current run). */
  wake(name: string): void {
    const state = this.loops.get(name)
    if (!state || this.stopped) return
    if (state.running) state.again = true
    else this.schedule(state, 0)
  }

  /** Whether this agent holds the leader lease now (runs the singleton loops): for /metrics. */
  isLeader(): boolean {
    return !this.stopped && this.clock.now() < this.leaderUntil
  }

  /** Whether any loop, heartbeat or outcome batch is in progress: a simulation moves its clock only when not. */
  busy(): boolean {
    if (this.heartbeating) return true
    for (const s of this.loops.values()) if (s.running) return true
    return this.receivers.some((r) => r.busy)
  }

  /** Whether the loops run: started, and neither stopped nor fenced (for /health/ready). */
  isRunning(): boolean {
    return this.started && !this.stopped
  }

  /** When each loop last completed, and its last error: for /health and `aso agents`. */
  loopStatus(): Record<string, { lastRunAt: number; lastError: string | null }> {
    return Object.fromEntries(
      [...this.loops.values()].map((s) => [s.loop.name, { lastRunAt: s.lastRunAt, lastError: s.lastError }]),
    )
  }

  private schedule(state: LoopState, delayMs: number): void {
    if (this.stopped) return
    if (state.timer) this.clock.clearTimeout(state.timer)
    state.timer = this.clock.setTimeout(() => {
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
        // a singleton loop of an agent that is not the leader has nothing to do (and did not run)
        const idle = SINGLETON_LOOPS.has(state.loop.name) && this.clock.now() >= this.leaderUntil
        const n = idle ? 0 : await state.loop.run()
        more = n >= this.opts.config.agent.batchSize
        if (!idle) state.lastRunAt = this.clock.now()
        state.lastError = null
      } catch (e) {
        if ((e as { code?: unknown }).code === 'unavailable') this.storeReachableSince = null
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
    const alive = await this.opts.store.heartbeat({
      id: this.id,
      host: hostname(),
      pid: process.pid,
      startedAt: this.startedAt,
      heartbeatAt: this.clock.now(),
      loops,
    })
    if (!alive) return this.fence()
    this.storeReachableSince ??= this.clock.now()
    await this.renewLeadership()
  }

  /** Takes or renews the leader lease when it is free or ours: its holder runs the singleton loops. */
  private async renewLeadership(): Promise<void> {
    const now = this.clock.now()
    const ttl = this.opts.config.agent.lease
    const was = now < this.leaderUntil
    const held = await this.opts.store.acquireLease(LEADER_LEASE, this.id, ttl, now)
    // the margin keeps our view inside the lease others see, whatever the delay of the next renewal
    this.leaderUntil = held ? now + Math.max(ttl / 2, ttl - this.opts.config.agent.heartbeatInterval) : 0
    if (held && !was) {
      this.ctx.log.info({ loops: [...SINGLETON_LOOPS] }, 'leader lease taken: running the singleton loops')
      for (const name of SINGLETON_LOOPS) this.wake(name)
    }
  }

  /**
   * Another agent declared this one dead (a heartbeat came too late) and may own its work now: stop every
   * loop and copy at once, without the grace period, and tell the owner of the process.
   */
  private async fence(): Promise<void> {
    if (this.stopped) return
    this.ctx.log.error('this agent was declared dead by another agent (late heartbeat): stopping at once')
    this.stopped = true
    this.submitter.stopping = true
    for (const s of this.loops.values()) {
      if (s.timer) this.clock.clearTimeout(s.timer)
      s.loop.stop?.()
    }
    if (this.heartbeatTimer) this.clock.clearTimeout(this.heartbeatTimer)
    for (const engine of this.opts.engines.values()) await engine.shutdown?.(0)
    await this.couch?.close()
    this.opts.onFenced?.()
  }

  /** Graceful stop: no new claims; running copies get `shutdownGrace`; the rest go back to NEW uncharged. */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.submitter.stopping = true
    const grace = this.opts.config.agent.shutdownGrace
    for (const s of this.loops.values()) s.loop.stop?.()
    await Promise.all([...this.loops.values()].map((s) => s.running))
    this.stopped = true
    for (const s of this.loops.values()) if (s.timer) this.clock.clearTimeout(s.timer)
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
        await this.ctx.store.requeueLostJob(
          j.jobId,
          'agent stopped before the copy ran',
          this.clock.now(),
          this.id,
        )
      }
    }
    for (const engine of this.opts.engines.values()) await engine.close?.()
    await this.opts.catalog?.close()
    await this.couch?.close()
    if (this.heartbeatTimer) this.clock.clearTimeout(this.heartbeatTimer)
    await this.heartbeating
    // another agent takes the singleton loops over at its next heartbeat, not after the lease
    await this.opts.store.releaseLeases([this.id])
    await this.opts.store.stopAgent(this.id, this.clock.now())
  }
}
