/** The TransferEngine interface (ARCHITECTURE.md section 7) and the data that crosses it. */

/** One storage URL for one end of a transfer; a site may offer several protocols, in its order of preference. */
export interface Endpoint {
  scheme: string
  url: string
  /** false when the site does not allow third-party copy through this endpoint */
  tpc?: boolean
}

export interface EngineFile {
  transferId: string
  attempt: number
  submission: number
  task: string
  /** the source's URLs, one per protocol the source site serves, in the site's order */
  sources: Endpoint[]
  /** the destination's URLs, one per protocol the destination site serves, in the site's order */
  destinations: Endpoint[]
  size: number
  /** 8 lowercase hex digits, what the job measured */
  adler32: string
  activity: string
  priority: number
  /**
   * true when an earlier attempt of ours may have written the destination (a retry, a resubmission
   * after a crash, a supersede): such a file is ours and may always be overwritten (invariant 10)
   */
  ownsDestination: boolean
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
}

export type FileResult = 'done' | 'failed' | 'killed' | 'interrupted'

/**
 * The end of one file's attempt. `failed` reasons use FTS's `SCOPE [errno] message` form so one classifier
 * serves every engine; `interrupted` means we stopped it ourselves (shutdown) and no attempt is charged.
 */
export interface FileOutcome {
  jobId: string
  transferId: string
  attempt: number
  result: FileResult
  reason: string
  /** the engine's own retry verdict, when it has one (FTS `recoverable`) */
  recoverable?: boolean
  /** how the file was moved, e.g. "xroot-tpc", "file-copy" */
  method?: string
  engineFileId?: string
  bytes?: number
  durationMs?: number
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
}

/** A submit that failed: `retryable` ones go back to the queue without charging an attempt. */
export class EngineSubmitError extends Error {
  readonly retryable: boolean
  /** the reason in `SCOPE [errno] message` form when the refusal is about the files */
  readonly reason: string

  constructor(message: string, retryable: boolean, reason?: string) {
    super(message)
    this.name = 'EngineSubmitError'
    this.retryable = retryable
    this.reason = reason ?? message
  }
}
