/** The TransferEngine interface (ARCHITECTURE.md section 7) and the data that crosses it. */
import type { FileOutcome } from '../domain/outcome.js'
import type { CopyFile } from '../storage/copy-method.js'
import type { TransferCredentials } from '../storage/protocol.js'

/** A file of an engine job: what storage needs to copy it, and what the engine schedules it by. */
export interface EngineFile extends CopyFile {
  transferId: string
  attempt: number
  submission: number
  task: string
  activity: string
  priority: number
}

export interface EngineJob {
  /** deterministic: resubmitting the same id is safe */
  id: string
  user: string
  group: string | null
  role: string | null
  /** source and destination site names */
  source: string
  destination: string
  files: EngineFile[]
  priority: number
  /** whether to overwrite a destination file ASO did not write */
  overwrite: boolean
  /** the link's limit, for engines that run copies themselves */
  maxActive: number
  /** the user's credentials for storage that asks for them; absent: anonymous access (TLS server auth only) */
  credentials?: TransferCredentials
}

export type EngineJobState = 'unknown' | 'queued' | 'active' | 'finished'

export interface EngineJobStatus {
  jobId: string
  /** `unknown`: the engine has no such job (lost, or never arrived) */
  state: EngineJobState
  /** terminal outcomes known so far */
  files: FileOutcome[]
  /** files the engine still holds (not terminal) */
  pending: string[]
  /** last time the engine saw progress on this job (epoch ms) */
  lastProgressAt?: number
}

/** Context a deterministic job id may depend on (FTS mixes in the user's VO id). */
export interface JobIdContext {
  user: string
  group: string | null
  role: string | null
  source: string
  destination: string
}

export interface TransferEngine {
  readonly name: string
  /** whether jobs live on after this agent dies (FTS) or die with it (the built-in engine) */
  readonly jobsOutliveAgent: boolean
  /**
   * How job ids are made for batches of one queue: the returned function maps a batch's submission id to
   * its engine job id, so the id is known (and stored) before the submit call.
   */
  jobIdFactory(ctx: JobIdContext): Promise<(sid: string) => string>
  /** Hands a job to the engine. Resubmitting an id the engine already has is a no-op. */
  submit(job: EngineJob): Promise<void>
  /** Bulk status; unknown ids are reported as such. */
  status(jobIds: string[]): Promise<EngineJobStatus[]>
  /** Cancels a whole job or the listed files of it; the outcomes report `killed`. */
  cancel(jobId: string, transferIds?: string[]): Promise<void>
  /** Push path: outcomes as they happen. Polling stays the backstop. */
  outcomes?(): AsyncIterable<FileOutcome>
  /** Stop taking jobs; let running copies finish for `graceMs`, then abort them (reported `interrupted`). */
  shutdown?(graceMs: number): Promise<void>
  /** Releases connections and timers. */
  close?(): Promise<void>
  /** The engine's own limit of files per job, when lower than the link's (FTS: `fts3.maxFilesPerJob`). */
  readonly maxFilesPerJob?: number
  /**
   * For engines that act with the user's own credential (FTS): why the user cannot submit now (null: they
   * can), and when their credential file last changed; the credential watcher lifts holds with it.
   */
  credentialStatus?(user: string): Promise<{ problem: string | null; changedAt: number | null }>
}

/** A submit that failed: `retryable` ones go back to the queue without charging an attempt. */
export class EngineSubmitError extends Error {
  readonly retryable: boolean
  /** the reason in `SCOPE [errno] message` form when the refusal is about the files */
  readonly reason: string

  /**
   * the request may have reached the engine, which may hold the job: keep it SUBMITTING under its id (the
   * reaper hands it over again, and the engine adopts it), never back to NEW under a new id
   */
  readonly inDoubt: boolean

  constructor(message: string, retryable: boolean, reason?: string, opts: { inDoubt?: boolean } = {}) {
    super(message)
    this.name = 'EngineSubmitError'
    this.retryable = retryable
    this.reason = reason ?? message
    this.inDoubt = opts.inDoubt ?? false
  }
}

/**
 * Thrown by `jobIdFactory` when the user has no usable credential (missing, expired, too short-lived): the
 * submitter holds that user's files (class `credential`) so that nobody else waits for them.
 */
export class CredentialHoldError extends Error {
  readonly user: string
  /** for the user: what is wrong and what to do */
  readonly reason: string

  constructor(user: string, reason: string) {
    super(`credential of ${user}: ${reason}`)
    this.name = 'CredentialHoldError'
    this.user = user
    this.reason = reason
  }
}
