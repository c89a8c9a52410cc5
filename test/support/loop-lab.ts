/**
 * A lab for one agent loop alone: the `AgentContext` a loop takes, with an in-memory SQLite store, the real
 * config defaults, a site catalog of sites A, B and C (served by a `mock://` scheme), a virtual clock the test
 * moves, a wake spy, and scripted peers: an engine and a storage whose answers the test scripts and whose
 * calls it reads back (scripted-engine.ts, scripted-storage.ts).
 */
import pino from 'pino'
import type { AgentContext } from '../../src/agent/context.js'
import { outcomePolicy } from '../../src/agent/outcome-policy.js'
import { parseConfig } from '../../src/config/load.js'
import type { AsoConfig } from '../../src/config/schema.js'
import type { FileOutcome, FileResult } from '../../src/domain/outcome.js'
import { validateRequest } from '../../src/domain/request.js'
import type { TransferState } from '../../src/domain/states.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { openStore } from '../../src/store/open.js'
import { contextFor, rawRequest } from './requests.js'
import { ScriptedEngine, type ScriptedEngineOptions } from './scripted-engine.js'
import { ScriptedStorage } from './scripted-storage.js'

// named through the store's operations, not the modules declaring them (the store's types are being reorganised)
type Store = Awaited<ReturnType<typeof openStore>>
type ClaimedJob = Awaited<ReturnType<Store['claimForSubmission']>>[number]
type OutcomeSummary = Awaited<ReturnType<Store['recordOutcomes']>>

/** A clock that moves only when the test moves it. */
export class VirtualClock {
  constructor(private t: number) {}

  now = (): number => this.t

  advance(ms: number): number {
    this.t += ms
    return this.t
  }
}

/** A site of the lab's catalog: LFN → `mock://NAME/LFN`, with the default areas unless given. */
export function mockSite(name: string, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { protocols: [{ scheme: 'mock', prefix: `mock://${name}` }], ...over }
}

export interface LoopLabOptions {
  /** aso.yaml sections, over the lab's (sites A, B, C) and the real defaults */
  config?: Record<string, unknown>
  engine?: ScriptedEngineOptions
  /** the agent the loop runs in (default `agent-under-test`) */
  agentId?: string
}

export interface ClaimOptions {
  user?: string
  source?: string
  destination?: string
  limit?: number
  maxFilesPerJob?: number
  /** the claiming agent (default: the lab's) */
  agentId?: string
}

export interface LoopLab {
  /** what the loop is constructed with */
  ctx: AgentContext
  store: Store
  config: AsoConfig
  engine: ScriptedEngine
  storage: ScriptedStorage
  clock: VirtualClock
  /** the loops woken, in order */
  wakes: string[]
  busyJobs: Set<string>
  /** stores `n` valid requests (alice's, task `task-USER`, A → B unless `over` says otherwise) as an admin would */
  inject(n: number, over?: (i: number) => Record<string, unknown>): Promise<string[]>
  /** NEW → SUBMITTING for the lab's engine, as the submitter's claim does (no engine call) */
  claim(opts?: ClaimOptions): Promise<ClaimedJob[]>
  /** claim, then SUBMITTED: jobs the engine holds */
  submitted(opts?: ClaimOptions): Promise<ClaimedJob[]>
  /** what the engine reports for these files of a job (all of them unless `ids`) */
  outcomes(job: ClaimedJob, result: FileResult, reason?: string, ids?: readonly string[]): FileOutcome[]
  /** applies outcomes as the agent does, with its outcome policy */
  record(outcomes: readonly FileOutcome[]): Promise<OutcomeSummary>
  /** the states of these records, in the order of `ids` */
  states(ids: readonly string[]): Promise<TransferState[]>
  /** polls `check` until it holds (a condition, not a fixed sleep) */
  waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs?: number): Promise<void>
  close(): Promise<void>
}

/** A lab for one loop: construct the loop with `lab.ctx`, set records up with the store, run it, assert. */
export async function makeLoopLab(opts: LoopLabOptions = {}): Promise<LoopLab> {
  const config = parseConfig({
    sites: { A: mockSite('A'), B: mockSite('B'), C: mockSite('C') },
    ...opts.config,
    database: 'sqlite::memory:',
  })
  const store = await openStore('sqlite::memory:', {
    policy: {
      deleteSourceOnDone: config.cleanup.deleteSourceOnDone,
      tempRetention: config.cleanup.tempRetention,
    },
  })
  const engine = new ScriptedEngine(opts.engine)
  const storage = new ScriptedStorage()
  // near the real time: webhook receivers check the signed timestamp against their own clock
  const clock = new VirtualClock(Date.now())
  const wakes: string[] = []
  const busyJobs = new Set<string>()
  const agentId = opts.agentId ?? 'agent-under-test'
  const ctx: AgentContext = {
    agentId,
    config,
    store,
    sites: new SiteCatalog(config),
    engines: new Map([[engine.name, engine]]),
    storage: new StorageRegistry([storage]),
    log: pino({ level: process.env.ASO_TEST_LOG ?? 'silent' }),
    now: clock.now,
    wake: (loop) => {
      wakes.push(loop)
    },
    busyJobs,
  }
  let nextRequest = 0

  const claim = async (o: ClaimOptions = {}) => {
    const jobIdFor = await engine.script.jobIdFactory.answer({
      user: o.user ?? 'alice',
      group: null,
      role: null,
      source: o.source ?? 'A',
      destination: o.destination ?? 'B',
    })
    return store.claimForSubmission({
      source: o.source ?? 'A',
      destination: o.destination ?? 'B',
      user: o.user ?? 'alice',
      group: null,
      role: null,
      limit: o.limit ?? 1000,
      maxActive: 100_000,
      maxFilesPerJob: o.maxFilesPerJob ?? 100,
      engine: engine.name,
      agentId: o.agentId ?? agentId,
      now: clock.now(),
      jobIdFor,
    })
  }

  return {
    ctx,
    store,
    config,
    engine,
    storage,
    clock,
    wakes,
    busyJobs,
    async inject(n, over = () => ({})) {
      const items = Array.from({ length: n }, (_, i) => {
        const o = over(i)
        // a task belongs to one user: each user's files go to their own task unless told otherwise
        const raw = rawRequest(nextRequest++, { task: `task-${o.user ?? 'alice'}`, ...o })
        const v = validateRequest(raw, contextFor())
        if (!v.ok) throw new Error(`invalid test request: ${JSON.stringify(v.errors)}`)
        return { id: v.id, request: v.request }
      })
      const results = await store.inject(items, {
        now: clock.now(),
        actor: 'test',
        maxAttempts: config.retry.maxAttempts,
      })
      if (results.some((r) => r.status !== 'created'))
        throw new Error(`not created: ${JSON.stringify(results)}`)
      return results.map((r) => r.id!)
    },
    claim,
    async submitted(o = {}) {
      const jobs = await claim(o)
      for (const job of jobs) {
        await store.markSubmitted([job.jobId], clock.now(), o.agentId ?? agentId)
        engine.held.set(
          job.jobId,
          job.transfers.map((t) => t.id),
        )
      }
      return jobs
    },
    outcomes(job, result, reason = result === 'done' ? '' : 'TRANSFER [5] scripted failure', ids) {
      return job.transfers
        .filter((t) => !ids || ids.includes(t.id))
        .map((t) => ({ jobId: job.jobId, transferId: t.id, attempt: t.attempt, result, reason }))
    },
    record(outcomes) {
      return store.recordOutcomes(outcomes, outcomePolicy(ctx, engine))
    },
    async states(ids) {
      const byId = new Map((await store.getMany(ids)).map((t) => [t.id, t.state]))
      return ids.map((id) => byId.get(id)!)
    },
    async waitFor(check, what, timeoutMs = 10_000) {
      const until = Date.now() + timeoutMs
      while (!(await check())) {
        if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
        await new Promise((r) => setTimeout(r, 10))
      }
    },
    async close() {
      engine.endPushes()
      await store.close()
    },
  }
}
