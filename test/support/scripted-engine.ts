/**
 * An engine for unit tests of one agent loop: a `TransferEngine` whose answers the test scripts and whose calls
 * it reads back, standing in for the built-in engine or FTS (which the integration suites test for real).
 */
import type { FileOutcome } from '../../src/domain/outcome.js'
import type { EngineJob, EngineJobStatus, JobIdContext, TransferEngine } from '../../src/engines/types.js'
import { Script } from './script.js'

export type EngineCall =
  | { op: 'jobIdFactory'; ctx: JobIdContext }
  | { op: 'submit'; job: EngineJob }
  | { op: 'status'; jobIds: string[] }
  | { op: 'cancel'; jobId: string; transferIds: string[] | undefined }
  | { op: 'credentialStatus'; user: string }

export type CredentialState = { problem: string | null; changedAt: number | null }

export interface ScriptedEngineOptions {
  /** the engine's name (default `local`, the engine links use by default) */
  name?: string
  /** default false: jobs die with their agent, like the built-in engine's */
  jobsOutliveAgent?: boolean
  maxFilesPerJob?: number
  /** gives the engine a `credentialStatus` (as FTS has), answering this unless scripted otherwise */
  credentialStatus?: (user: string) => CredentialState
}

/** A status saying the engine finished a job with these outcomes. */
export function finishedStatus(jobId: string, files: FileOutcome[]): EngineJobStatus {
  return { jobId, state: 'finished', files, pending: [] }
}

/**
 * A `TransferEngine` whose answers the test scripts. By default it accepts every job and holds it (status
 * `active`), calls any job it does not hold `unknown`, and accepts every cancel. Every call is recorded.
 */
export class ScriptedEngine implements TransferEngine {
  readonly name: string
  readonly jobsOutliveAgent: boolean
  readonly maxFilesPerJob?: number
  readonly calls: EngineCall[] = []
  /** jobs the engine holds: job id → transfer ids */
  readonly held = new Map<string, string[]>()
  readonly script: {
    jobIdFactory: Script<[JobIdContext], (sid: string) => string>
    submit: Script<[EngineJob], void>
    status: Script<[string[]], EngineJobStatus[]>
    cancel: Script<[string, string[] | undefined], void>
    credentialStatus: Script<[string], CredentialState>
  }
  /** set only when the options give one: the credential watcher asks only engines that have it */
  readonly credentialStatus?: (user: string) => Promise<CredentialState>
  private readonly pushed: FileOutcome[] = []
  private wakeReader: (() => void) | null = null
  private ended = false

  constructor(opts: ScriptedEngineOptions = {}) {
    this.name = opts.name ?? 'local'
    this.jobsOutliveAgent = opts.jobsOutliveAgent ?? false
    if (opts.maxFilesPerJob !== undefined) this.maxFilesPerJob = opts.maxFilesPerJob
    this.script = {
      jobIdFactory: new Script(() => (sid) => `${this.name}-${sid}`),
      submit: new Script((job) => {
        this.held.set(
          job.id,
          job.files.map((f) => f.transferId),
        )
      }),
      status: new Script((ids) =>
        ids.map((jobId): EngineJobStatus => {
          const files = this.held.get(jobId)
          return files
            ? { jobId, state: 'active', files: [], pending: files }
            : { jobId, state: 'unknown', files: [], pending: [] }
        }),
      ),
      cancel: new Script(() => {}),
      credentialStatus: new Script(opts.credentialStatus ?? (() => ({ problem: null, changedAt: null }))),
    }
    if (opts.credentialStatus) {
      this.credentialStatus = (user) => {
        this.calls.push({ op: 'credentialStatus', user })
        return this.script.credentialStatus.answer(user)
      }
    }
  }

  jobIdFactory(ctx: JobIdContext): Promise<(sid: string) => string> {
    this.calls.push({ op: 'jobIdFactory', ctx })
    return this.script.jobIdFactory.answer(ctx)
  }

  submit(job: EngineJob): Promise<void> {
    this.calls.push({ op: 'submit', job })
    return this.script.submit.answer(job)
  }

  status(jobIds: string[]): Promise<EngineJobStatus[]> {
    this.calls.push({ op: 'status', jobIds: [...jobIds] })
    return this.script.status.answer(jobIds)
  }

  cancel(jobId: string, transferIds?: string[]): Promise<void> {
    this.calls.push({ op: 'cancel', jobId, transferIds })
    return this.script.cancel.answer(jobId, transferIds)
  }

  /** The push stream a receiver reads: what `push` sends, until `endPushes`. */
  async *outcomes(): AsyncIterable<FileOutcome> {
    for (;;) {
      while (this.pushed.length) yield this.pushed.shift()!
      if (this.ended) return
      await new Promise<void>((resolve) => {
        this.wakeReader = resolve
      })
    }
  }

  /** Pushes outcomes to the receiver, as an engine reporting them as they happen. */
  push(...outcomes: FileOutcome[]): void {
    this.pushed.push(...outcomes)
    this.wakeReader?.()
    this.wakeReader = null
  }

  /** Ends the push stream (the receiver drains and stops). */
  endPushes(): void {
    this.ended = true
    this.wakeReader?.()
    this.wakeReader = null
  }

  /** The jobs handed to `submit`, in order. */
  submits(): EngineJob[] {
    return this.calls.flatMap((c) => (c.op === 'submit' ? [c.job] : []))
  }

  /** The cancels sent, in order. */
  cancels(): { jobId: string; transferIds: string[] | undefined }[] {
    return this.calls.flatMap((c) =>
      c.op === 'cancel' ? [{ jobId: c.jobId, transferIds: c.transferIds }] : [],
    )
  }

  /** The job ids asked about, one list per `status` call. */
  statusCalls(): string[][] {
    return this.calls.flatMap((c) => (c.op === 'status' ? [c.jobIds] : []))
  }
}
