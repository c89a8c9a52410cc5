import type { FieldError } from '../domain/errors.js'
import type { Classification, FailureClass } from '../domain/failures.js'
import type { FileOutcome } from '../domain/outcome.js'
import type { BackoffPolicy } from '../domain/retry-policy.js'
import type { TransferState } from '../domain/states.js'
import type { TransferRecord, TransferRequest } from '../domain/transfer.js'
import type { DialectName } from './dialect.js'

/** One validated request to store, with its derived id. */
export interface InjectItem {
  id: string
  request: TransferRequest
}

export type InjectStatus = 'created' | 'unchanged' | 'superseded' | 'rejected'

export interface InjectResult {
  id: string | null
  status: InjectStatus
  error?: FieldError
}

/**
 * How `inject` stores a batch. A task belongs to the user of the first file injected into it (claimed in the
 * inject transaction): an item of another user in it is rejected with field `task`, naming nothing of it.
 */
export interface InjectOptions {
  now: number
  actor: string
  maxAttempts: number
}

/** Files of one user (and group, role) waiting on one link. */
export interface WaitingQueue {
  source: string
  destination: string
  user: string
  group: string | null
  role: string | null
  waiting: number
}

export interface ClaimSpec {
  source: string
  destination: string
  user: string
  group: string | null
  role: string | null
  /** files wanted */
  limit: number
  /** the link's limit: the claim never lets in-flight files exceed it */
  maxActive: number
  maxFilesPerJob: number
  engine: string
  agentId: string
  now: number
  /** engine job id for a batch's submission id (precomputed context, so it is synchronous) */
  jobIdFor(sid: string): string
}

export interface ClaimedJob {
  jobId: string
  transfers: TransferRecord[]
}

export interface EngineJobRow {
  jobId: string
  engine: string
  agentId: string | null
  user: string
  group: string | null
  role: string | null
  source: string
  destination: string
  state: 'SUBMITTING' | 'SUBMITTED' | 'FINISHED' | 'LOST'
  files: number
  createdAt: number
  submittedAt: number | null
  lastPolledAt: number
  lastProgressAt: number
  cancelRequestedAt: number | null
  cancelSentAt: number | null
}

/** Clean-up policy the store applies when a record ends (from `cleanup:` in aso.yaml). */
export interface StorePolicy {
  deleteSourceOnDone: boolean
  /** FAILED and KILLED sources are kept this long for a retry before the cleaner deletes them */
  tempRetention: number
}

export interface OutcomePolicy {
  now: number
  backoff: BackoffPolicy
  quotaRecheck: number
  maxHold: number
  actor: string
  /** when set, only files this agent holds take the outcomes (engines whose jobs die with their agent) */
  holder?: string
  /** classifier: reason (+ engine verdict) → class and retry flag */
  classify(reason: string, recoverable?: boolean): Classification
}

export interface OutcomeSummary {
  applied: number
  /** outcomes for records that had already moved on (late, duplicate or stale) */
  ignored: number
  byState: Partial<Record<TransferState, number>>
  /** terminal transitions, for notifications */
  terminal: { id: string; state: TransferState }[]
}

export interface Selector {
  ids?: readonly string[]
  task?: string
  /** restrict to one owner (users act only on their own files) */
  user?: string
}

export interface CountRow {
  source: string
  destination: string
  user: string
  state: TransferState
  n: number
  bytes: number
}

export interface HistoryEvent {
  id: number
  at: number
  transferId: string
  user: string
  task: string
  from: TransferState | null
  to: TransferState
  reason: string
  attempt: number
  engineJobId: string | null
  actor: string
}

export interface ListFilter {
  user?: string
  task?: string
  state?: TransferState
  source?: string
  destination?: string
  failureClass?: string
  updatedSince?: number
  /** opaque cursor returned by the previous page */
  cursor?: string
  limit: number
}

export interface Hold {
  id: number
  user: string
  site: string
  class: string
  reason: string
  since: number
  until: number
}

export interface LinkSetting {
  link: string
  maxActive: number | null
  paused: boolean
}

export interface AgentRow {
  id: string
  host: string
  pid: number
  startedAt: number
  heartbeatAt: number
  loops: Record<string, number>
  stoppedAt: number | null
}

/** A named lease (leader election for singleton loops): held by `holder` until `until`. */
export interface LeaseRow {
  name: string
  holder: string
  until: number
}

/** What one agent holds: open engine jobs by state, and their files. */
export interface HeldJobs {
  agentId: string | null
  submitting: number
  submitted: number
  files: number
}

export interface CleanupItem {
  id: string
  user: string
  source: string
  sourceLfn: string
  state: TransferState
}

/** The only door to persisted state. Every method is one transaction. */
export interface Store {
  readonly dialect: DialectName
  migrate(): Promise<void>
  close(): Promise<void>
  ping(): Promise<void>

  // injection
  inject(items: readonly InjectItem[], opts: InjectOptions): Promise<InjectResult[]>

  // submitter
  waitingQueues(): Promise<WaitingQueue[]>
  inFlightByLink(): Promise<Map<string, number>>
  claimForSubmission(spec: ClaimSpec): Promise<ClaimedJob[]>
  /** SUBMITTING → SUBMITTED; returns ids that were killed meanwhile (KILLING), to cancel at the engine */
  markSubmitted(jobId: string, now: number, actor: string): Promise<{ submitted: number; killing: string[] }>
  markSubmittedMany(
    jobIds: readonly string[],
    now: number,
    actor: string,
  ): Promise<Map<string, { submitted: number; killing: string[] }>>
  /** SUBMITTING → NEW without charging an attempt (5xx, timeout) */
  deferSubmission(jobId: string, reason: string, now: number, actor: string): Promise<number>
  /** SUBMITTING → FAILED with a class (refused for good, no PFN) */
  rejectSubmission(
    jobId: string,
    failures: { id: string; class: FailureClass; reason: string }[],
    now: number,
    actor: string,
  ): Promise<number>

  // poller / receiver
  openEngineJobs(opts: {
    engine: string
    agentId?: string
    states: ('SUBMITTING' | 'SUBMITTED')[]
    polledBefore?: number
    limit: number
  }): Promise<EngineJobRow[]>
  engineJobMembers(jobId: string): Promise<TransferRecord[]>
  touchEngineJobs(jobIds: readonly string[], now: number, progress: readonly string[]): Promise<void>
  recordOutcomes(outcomes: readonly FileOutcome[], policy: OutcomePolicy): Promise<OutcomeSummary>
  /** An engine job the engine no longer knows: its files go back to NEW, no attempt charged. */
  requeueLostJob(jobId: string, reason: string, now: number, actor: string): Promise<number>
  /** Moves open engine jobs to `agentId` (guarded by their current holder); returns the job ids taken over. */
  takeOverJobs(jobIds: readonly string[], agentId: string, now: number): Promise<string[]>

  // retrier
  promoteDueRetries(now: number, limit: number, actor: string): Promise<number>

  // kill / retry
  kill(
    sel: Selector,
    reason: string,
    now: number,
    actor: string,
  ): Promise<{ killed: number; killing: number }>
  retry(sel: Selector, now: number, actor: string): Promise<{ retried: number; refused: number }>
  /** engine jobs with files to cancel (KILLING and the cancel not yet sent) */
  pendingCancels(
    limit: number,
  ): Promise<{ jobId: string; engine: string; agentId: string | null; ids: string[] }[]>
  markCancelSent(jobId: string, now: number): Promise<void>
  /** KILLING → KILLED for files whose engine attempt is gone (engine confirmed, or the job is unknown) */
  confirmKilled(ids: readonly string[], reason: string, now: number, actor: string): Promise<number>

  // cleaner
  dueCleanups(now: number, limit: number): Promise<CleanupItem[]>
  recordCleanup(
    results: readonly { id: string; outcome: 'DONE' | 'FAILED' | 'SKIPPED'; reason: string }[],
    now: number,
    actor: string,
  ): Promise<void>

  // holds
  activeHolds(now: number): Promise<Hold[]>
  addHold(hold: Omit<Hold, 'id'>, actor: string): Promise<void>
  releaseHolds(
    sel: { user: string; site?: string; class?: string },
    now: number,
    actor: string,
  ): Promise<number>

  // operator settings
  linkSettings(): Promise<LinkSetting[]>
  setLinkSetting(
    link: string,
    change: { maxActive?: number | null; paused?: boolean },
    actor: string,
    now: number,
  ): Promise<void>
  userWeights(): Promise<Map<string, number>>
  setUserWeight(user: string, weight: number, actor: string, now: number): Promise<void>

  // agents
  /** false: this agent was declared dead and must stop (another agent may own its work now) */
  heartbeat(agent: Omit<AgentRow, 'stoppedAt'>): Promise<boolean>
  stopAgent(id: string, now: number): Promise<void>
  /** agents not stopped (alive, or dead and not yet noticed) */
  agents(): Promise<AgentRow[]>
  /** ids of open engine jobs held by none of `liveAgentIds` (their agent stopped or vanished) */
  orphanedJobs(liveAgentIds: readonly string[], limit: number): Promise<string[]>
  /** open engine jobs and files per holding agent (`aso agents`) */
  heldJobs(): Promise<HeldJobs[]>

  // leases: singleton loops (retrier, cleaner, …) run on one agent at a time
  /** Takes or renews lease `name` for `holder` for `ttlMs` if free, expired or already its own; whether held. */
  acquireLease(name: string, holder: string, ttlMs: number, now: number): Promise<boolean>
  /** Gives up every lease these holders hold (graceful stop, agents found dead). */
  releaseLeases(holders: readonly string[]): Promise<number>
  leases(): Promise<LeaseRow[]>

  // reads
  get(id: string): Promise<TransferRecord | undefined>
  getMany(ids: readonly string[]): Promise<TransferRecord[]>
  history(id: string): Promise<HistoryEvent[]>
  /**
   * History rows after the event `afterId` (0: from the start), in commit order, only rows no later commit can
   * precede: resuming from the id of the last event received never skips one. Pass that last id back: on
   * PostgreSQL ids are unique but not increasing along the stream (it follows the writing transactions).
   */
  eventsSince(
    afterId: number,
    filter: { user?: string; task?: string },
    limit: number,
  ): Promise<HistoryEvent[]>
  list(filter: ListFilter): Promise<{ items: TransferRecord[]; next: string | null }>
  counts(filter?: { user?: string }): Promise<CountRow[]>
  taskCounts(
    task: string,
    user?: string,
  ): Promise<{ state: TransferState; failureClass: string | null; n: number; bytes: number }[]>
  /** files of the same queue ahead of this one (higher priority, or older) */
  queuePosition(record: TransferRecord): Promise<number>

  // API and notifications
  /** the owner of each of these tasks that has one (the user who first injected into it) */
  taskOwners(tasks: readonly string[]): Promise<Map<string, string>>
  /** the distinct callback URLs of `user`'s files of a task (null: files without one), at most `limit` */
  taskCallbackUrls(task: string, user: string, limit: number): Promise<(string | null)[]>
  /** each distinct failure reason of a task's FAILED, KILLED and RETRY files, with its count, most frequent first */
  taskFailureReasons(task: string, user: string | undefined, limit: number): Promise<TaskFailureReason[]>
  /** the newest history event id (0 if none): where a live event stream starts */
  latestEventId(): Promise<number>
  /** webhook notifications due now, claimed for `leaseMs` */
  dueWebhooks(now: number, limit: number, leaseMs: number): Promise<WebhookDelivery[]>
  recordWebhookAttempts(results: readonly WebhookAttempt[], now: number): Promise<void>
  /** deletes delivered notifications written before `before` */
  pruneDeliveredWebhooks(before: number): Promise<number>
  webhookBacklog(): Promise<{ pending: number; failed: number }>
  /** FAILED and RETRY files per failure class */
  failureClassCounts(): Promise<{ state: TransferState; failureClass: string; n: number }[]>

  // dashboard (store/ops/finished-reads.ts, stuck-reads.ts, task-list.ts): rollups and indexes only
  /** files that ended per time bucket (minute or hour) and state, in [from, to) */
  finishedSeries(q: {
    span: 'minute' | 'hour'
    from: number
    to: number
    user?: string
  }): Promise<FinishedBucket[]>
  /** files that ended per link, state and class, in [from, to) (hour buckets: everyone's only) */
  finishedByLink(q: {
    span: 'minute' | 'hour'
    from: number
    to: number
    user?: string
  }): Promise<FinishedByLink[]>
  openEngineJobCount(user?: string): Promise<number>
  /** every queue with waiting files and when its oldest was injected */
  queueAges(user?: string): Promise<QueueAge[]>
  oldestOfQueue(queue: QueueAge): Promise<string | null>
  stalledEngineJobs(before: number, limit: number, user?: string): Promise<EngineJobRow[]>
  overdueRetries(before: number, limit: number, user?: string): Promise<OverdueRetry[]>
  taskList(filter: TaskListFilter): Promise<{ items: TaskProgress[]; next: string | null }>
  /** deletes time buckets past retention (bounded per call); returns rows deleted */
  pruneFinishedBuckets(now: number): Promise<number>
  recordAudit(entry: Omit<AuditEntry, 'id'>): Promise<void>
  auditLog(limit: number, before?: number): Promise<AuditEntry[]>
}

export interface FinishedBucket {
  /** the bucket's start, epoch ms */
  at: number
  state: TransferState
  files: number
  bytes: number
}

export interface FinishedByLink {
  source: string
  destination: string
  state: TransferState
  failureClass: string | null
  files: number
  bytes: number
}

export interface QueueAge {
  source: string
  destination: string
  user: string
  group: string | null
  role: string | null
  waiting: number
  /** creation time of its oldest waiting file (null if the rollup ran ahead of a commit) */
  oldestCreatedAt: number | null
  /** that file's priority (with the time, its place in the queue index) */
  oldestPriority: number | null
}

export interface OverdueRetry {
  id: string
  user: string
  task: string
  source: string
  destination: string
  nextAttemptAt: number
  failureClass: string | null
  failureReason: string | null
}

export interface TaskListFilter {
  user?: string
  task?: string
  /** part of the task name, any case */
  q?: string
  /** active: files not yet terminal; complete: all terminal; failed: some FAILED or KILLED */
  status?: 'active' | 'complete' | 'failed'
  cursor?: string
  limit: number
}

export interface TaskProgress {
  task: string
  user: string
  states: Record<TransferState, number>
  bytes: { total: number; done: number }
}

export interface AuditEntry {
  id: number
  at: number
  actor: string
  action: string
  target: string
  detail: unknown
}

export interface TaskFailureReason {
  state: TransferState
  failureClass: string | null
  reason: string
  n: number
}

/** One webhook notification to send: the body is fixed when the terminal state is recorded. */
export interface WebhookDelivery {
  id: number
  /** the event's `webhook-id`: the same on every attempt, never given to another event */
  messageId: string
  transferId: string
  user: string
  task: string
  url: string
  payload: string
  /** attempts made before this one */
  attempts: number
}

export interface WebhookAttempt {
  id: number
  outcome: 'delivered' | 'retry' | 'failed'
  /** for `retry` */
  nextAttemptAt?: number
  error?: string
}
