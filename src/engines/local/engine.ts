import { ASO_NAMESPACE, uuid5 } from '../../domain/ids.js'
import type { FileOutcome } from '../../domain/outcome.js'
import { killAllChildren } from '../../storage/child-process.js'
import type { CopyMethod, CopyResult, CopyTask } from '../../storage/copy-method.js'
import { fileCopy } from '../../storage/file/file-copy.js'
import { gfalCopy } from '../../storage/gfal/gfal-copy.js'
import { httpStream } from '../../storage/http/http-stream.js'
import { httpTpc } from '../../storage/http/http-tpc.js'
import { chooseMethods } from '../../storage/method-choice.js'
import { StorageError } from '../../storage/protocol.js'
import { StorageRegistry } from '../../storage/registry.js'
import { verifyDestination } from '../../storage/verify.js'
import { xrootMethods } from '../../storage/xroot/xroot-methods.js'
import {
  type EngineFile,
  type EngineJob,
  type EngineJobStatus,
  EngineSubmitError,
  type JobIdContext,
  type TransferEngine,
} from '../types.js'
import { AsyncQueue } from './async-queue.js'

export interface LocalEngineOptions {
  /** copies (or copy processes) running at once */
  maxConcurrent: number
  copyTimeoutMs: number
  /** files per batch for methods that batch (xrdcp --parallel) */
  batchSize: number
  methods?: CopyMethod[]
  storage?: StorageRegistry
  env?: Record<string, string>
}

type StopCause = 'kill' | 'interrupt' | 'timeout'

interface FileRun {
  file: EngineFile
  controller: AbortController
  stopCause: StopCause | null
  started: boolean
  outcome: FileOutcome | null
}

interface LocalJob {
  job: EngineJob
  runs: Map<string, FileRun>
  outcomes: FileOutcome[]
  lastProgressAt: number
  finishedAt: number | null
}

interface Unit {
  job: LocalJob
  method: CopyMethod
  tasks: { run: FileRun; task: Omit<CopyTask, 'signal'> }[]
}

/** Finished jobs are remembered this long for status calls, then forgotten. */
const FINISHED_TTL_MS = 10 * 60_000

/**
 * The built-in engine: runs the copies itself, with bounded concurrency, and verifies every destination
 * (size and adler32) before it reports a file done. Jobs live in this process and die with it.
 */
export class LocalEngine implements TransferEngine {
  readonly name = 'local'
  readonly jobsOutliveAgent = false
  readonly storage: StorageRegistry
  private readonly methods: CopyMethod[]
  private readonly jobs = new Map<string, LocalJob>()
  private readonly queue: Unit[] = []
  private readonly pushed = new AsyncQueue<FileOutcome>()
  private running = 0
  private closing = false
  private idle: (() => void) | null = null

  constructor(private readonly opts: LocalEngineOptions) {
    this.methods = opts.methods ?? [fileCopy, httpTpc, ...xrootMethods(), httpStream, gfalCopy]
    this.storage = opts.storage ?? new StorageRegistry()
  }

  async jobIdFactory(ctx: JobIdContext): Promise<(sid: string) => string> {
    return (sid) => uuid5(ASO_NAMESPACE, `${ctx.user}\n${sid}`)
  }

  async submit(job: EngineJob): Promise<void> {
    if (this.closing) throw new EngineSubmitError('the built-in engine is shutting down', true)
    if (this.jobs.has(job.id)) return
    const local: LocalJob = {
      job,
      runs: new Map(),
      outcomes: [],
      lastProgressAt: Date.now(),
      finishedAt: null,
    }
    this.jobs.set(job.id, local)
    const byMethod = new Map<CopyMethod, Unit['tasks']>()
    for (const file of job.files) {
      const run: FileRun = {
        file,
        controller: new AbortController(),
        stopCause: null,
        started: false,
        outcome: null,
      }
      local.runs.set(file.transferId, run)
      const choice = chooseMethods(file, this.methods)[0]
      if (!choice) {
        const src = file.sources.map((e) => e.scheme).join(',')
        const dst = file.destinations.map((e) => e.scheme).join(',')
        this.finish(local, run, {
          result: 'failed',
          reason: `TRANSFER [93] no transfer method between ${job.source} (${src}) and ${job.destination} (${dst})`,
        })
        continue
      }
      const tasks = byMethod.get(choice.method) ?? []
      tasks.push({
        run,
        task: { file, source: choice.source, destination: choice.destination, overwrite: job.overwrite },
      })
      byMethod.set(choice.method, tasks)
    }
    for (const [method, tasks] of byMethod) {
      const size = method === fileCopy ? 1 : this.opts.batchSize
      for (let i = 0; i < tasks.length; i += size) {
        this.queue.push({ job: local, method, tasks: tasks.slice(i, i + size) })
      }
    }
    this.pump()
  }

  async status(jobIds: string[]): Promise<EngineJobStatus[]> {
    this.forgetOld()
    return jobIds.map((jobId) => {
      const j = this.jobs.get(jobId)
      if (!j) return { jobId, state: 'unknown', files: [], pending: [] }
      const runs = [...j.runs.values()]
      const pending = runs.filter((r) => !r.outcome).map((r) => r.file.transferId)
      const state = pending.length === 0 ? 'finished' : runs.some((r) => r.started) ? 'active' : 'queued'
      return { jobId, state, files: [...j.outcomes], pending, lastProgressAt: j.lastProgressAt }
    })
  }

  async cancel(jobId: string, transferIds?: string[]): Promise<void> {
    const j = this.jobs.get(jobId)
    if (!j) return
    for (const run of j.runs.values()) {
      if (transferIds && !transferIds.includes(run.file.transferId)) continue
      this.stop(j, run, 'kill')
    }
  }

  outcomes(): AsyncIterable<FileOutcome> {
    return this.pushed
  }

  /** Stops taking work, lets running copies finish for `graceMs`, then aborts them (reported interrupted). */
  async shutdown(graceMs: number): Promise<void> {
    this.closing = true
    for (const unit of this.queue.splice(0)) {
      for (const { run } of unit.tasks) this.stop(unit.job, run, 'interrupt')
    }
    if (this.running > 0) {
      await Promise.race([this.whenIdle(), new Promise((r) => setTimeout(r, graceMs).unref())])
    }
    if (this.running > 0) {
      for (const j of this.jobs.values()) for (const run of j.runs.values()) this.stop(j, run, 'interrupt')
      await Promise.race([this.whenIdle(), new Promise((r) => setTimeout(r, 10_000).unref())])
      killAllChildren()
    }
  }

  async close(): Promise<void> {
    this.pushed.close()
  }

  private whenIdle(): Promise<void> {
    if (this.running === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.idle = resolve
    })
  }

  private stop(job: LocalJob, run: FileRun, cause: StopCause): void {
    if (run.outcome) return
    run.stopCause ??= cause
    if (run.started) {
      run.controller.abort()
      return
    }
    this.finish(job, run, this.stoppedOutcome(cause))
  }

  private stoppedOutcome(cause: StopCause): Pick<FileOutcome, 'result' | 'reason'> {
    if (cause === 'kill') return { result: 'killed', reason: 'Job canceled by the user' }
    if (cause === 'interrupt') return { result: 'interrupted', reason: 'agent shutting down: copy stopped' }
    return {
      result: 'failed',
      reason: `TRANSFER [110] Transfer timed out after ${this.opts.copyTimeoutMs / 1000} s`,
    }
  }

  private pump(): void {
    while (this.running < this.opts.maxConcurrent && this.queue.length > 0) {
      const unit = this.queue.shift()!
      this.running++
      this.runUnit(unit)
        .catch((e) => {
          // a bug in a method must not leave files without an outcome
          for (const { run } of unit.tasks) {
            this.finish(unit.job, run, {
              result: 'failed',
              reason: `TRANSFER [5] internal error: ${(e as Error).message}`,
            })
          }
        })
        .finally(() => {
          this.running--
          if (this.running === 0 && this.idle) {
            const idle = this.idle
            this.idle = null
            idle()
          }
          this.pump()
        })
    }
  }

  /** Settles whether each destination may be written, runs the method, verifies what it reports. */
  private async runUnit(unit: Unit): Promise<void> {
    const ready: { run: FileRun; task: CopyTask }[] = []
    // settle every destination of the unit at once: a batch must not trickle out one stat at a time
    await Promise.all(
      unit.tasks.map(async ({ run, task }) => {
        if (run.outcome) return
        run.started = true
        const signal = AbortSignal.any([run.controller.signal, AbortSignal.timeout(this.opts.copyTimeoutMs)])
        signal.addEventListener('abort', () => {
          if (!run.controller.signal.aborted) run.stopCause ??= 'timeout'
        })
        const full: CopyTask = { ...task, signal }
        const verdict = await this.destinationVerdict(unit.job.job, full)
        if (verdict === 'write') ready.push({ run, task: full })
        else this.finish(unit.job, run, { ...verdict, method: unit.method.name })
      }),
    )
    if (ready.length === 0) return
    const byTask = new Map(ready.map((r) => [r.task, r.run]))
    const reports: Promise<void>[] = []
    await unit.method.run(
      ready.map((r) => r.task),
      { concurrency: ready.length, env: this.opts.env ?? {}, credentials: unit.job.job.credentials },
      (task, result) => {
        const run = byTask.get(task)
        if (run) reports.push(this.settle(unit, run, task, result))
      },
    )
    await Promise.all(reports)
    for (const r of ready) {
      if (!r.run.outcome) {
        this.finish(unit.job, r.run, {
          result: 'failed',
          reason: `TRANSFER [5] ${unit.method.name} reported no result`,
        })
      }
    }
  }

  /** `write`, or the outcome when the destination already holds a file we may not overwrite. */
  private async destinationVerdict(
    job: EngineJob,
    task: CopyTask,
  ): Promise<'write' | Pick<FileOutcome, 'result' | 'reason'>> {
    if (job.overwrite || task.file.ownsDestination) return 'write'
    try {
      const existing = await this.storage.stat(task.destination.url, {
        scope: 'DESTINATION',
        signal: task.signal,
        credentials: job.credentials,
      })
      if (!existing) return 'write'
      if (existing.size === task.file.size) {
        const sum = await this.storage.adler32(task.destination.url, {
          scope: 'DESTINATION',
          signal: task.signal,
          credentials: job.credentials,
        })
        if (sum === task.file.adler32) {
          return { result: 'done', reason: 'already at destination with matching size and adler32' }
        }
      }
      return {
        result: 'failed',
        reason: 'DESTINATION [17] Destination file exists and overwrite is not enabled',
      }
    } catch (e) {
      return {
        result: 'failed',
        reason: e instanceof StorageError ? e.reason : `DESTINATION [5] ${(e as Error).message}`,
      }
    }
  }

  private async settle(unit: Unit, run: FileRun, task: CopyTask, result: CopyResult): Promise<void> {
    // a method that fell back to another (HTTP-TPC to streamed) says which one moved the bytes
    const method = result.method ?? unit.method.name
    const at = { scope: 'DESTINATION' as const, credentials: unit.job.job.credentials }
    if (!result.ok) {
      const stopped = run.stopCause ? this.stoppedOutcome(run.stopCause) : null
      this.finish(unit.job, run, stopped ?? { result: 'failed', reason: result.reason, method })
      return
    }
    const check = await verifyDestination(this.storage, task.destination.url, task.file, {
      who: method,
      measured: result.verified,
      credentials: unit.job.job.credentials,
    })
    if (!check.ok) {
      // a corrupted copy is never DONE and never stays (invariant 4); if it cannot be removed, say that
      const reason = await this.storage.remove(task.destination.url, at).then(
        () => check.reason,
        (e: unknown) => (e instanceof StorageError ? e.reason : `DESTINATION [5] ${(e as Error).message}`),
      )
      this.finish(unit.job, run, { result: 'failed', reason, method })
      return
    }
    this.finish(unit.job, run, {
      result: 'done',
      reason: `copied by ${method}, size and adler32 verified`,
      method,
      bytes: check.size,
    })
  }

  private finish(
    job: LocalJob,
    run: FileRun,
    o: Omit<FileOutcome, 'jobId' | 'transferId' | 'attempt'>,
  ): void {
    if (run.outcome) return
    const outcome: FileOutcome = {
      jobId: job.job.id,
      transferId: run.file.transferId,
      attempt: run.file.attempt,
      ...o,
    }
    run.outcome = outcome
    job.outcomes.push(outcome)
    job.lastProgressAt = Date.now()
    if ([...job.runs.values()].every((r) => r.outcome)) job.finishedAt = Date.now()
    this.pushed.push(outcome)
  }

  private forgetOld(): void {
    const cutoff = Date.now() - FINISHED_TTL_MS
    for (const [id, j] of this.jobs) if (j.finishedAt !== null && j.finishedAt < cutoff) this.jobs.delete(id)
  }
}
