import { type Kysely, Migrator, sql } from 'kysely'
import type { FailureClass } from '../domain/failures.js'
import type { FileOutcome } from '../domain/outcome.js'
import type { DialectOps, Trx } from './dialect.js'
import { migrationProvider } from './migrations/index.js'
import * as audit from './ops/audit.js'
import { claimForSubmission } from './ops/claim.js'
import { dueCleanups, recordCleanup } from './ops/cleanup.js'
import * as finished from './ops/finished-reads.js'
import { inject } from './ops/inject.js'
import { confirmKilled, kill, markCancelSent, pendingCancels, retry } from './ops/kill-retry.js'
import * as leaseOps from './ops/leases.js'
import { recordOutcomes } from './ops/outcomes.js'
import * as reads from './ops/reads.js'
import { orphanedJobs, promoteDueRetries, requeueLostJob, takeOverJobs } from './ops/recovery.js'
import * as settings from './ops/settings.js'
import * as stuck from './ops/stuck-reads.js'
import { deferSubmission, markSubmitted, markSubmittedMany, rejectSubmission } from './ops/submission.js'
import * as taskList from './ops/task-list.js'
import { taskOwners } from './ops/task-owners.js'
import * as taskReads from './ops/task-reads.js'
import * as outbox from './ops/webhook-outbox.js'
import type { Database } from './schema.js'
import type {
  AgentRow,
  AuditEntry,
  ClaimSpec,
  Hold,
  InjectItem,
  InjectOptions,
  ListFilter,
  OutcomePolicy,
  QueueAge,
  Selector,
  Store,
  StorePolicy,
  TaskListFilter,
  WebhookAttempt,
} from './types.js'

export const DEFAULT_STORE_POLICY: StorePolicy = { deleteSourceOnDone: true, tempRetention: 14 * 86_400_000 }

/** The Store on Kysely: one implementation for SQLite and PostgreSQL; each operation is one transaction. */
export class KyselyStore implements Store {
  constructor(
    readonly db: Kysely<Database>,
    private readonly ops: DialectOps,
    readonly policy: StorePolicy = DEFAULT_STORE_POLICY,
  ) {}

  get dialect() {
    return this.ops.name
  }

  /** Runs `fn` in a transaction; one the database aborted as a deadlock victim runs again (a few times). */
  private async tx<T>(fn: (trx: Trx) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(fn)
      } catch (e) {
        if (attempt >= 5 || !this.ops.retryable(e)) throw e
        // a short random pause, so the two sides of a deadlock do not meet again
        await new Promise((r) => setTimeout(r, Math.random() * 20 * attempt))
      }
    }
  }

  async migrate(): Promise<void> {
    // migrations written in parallel may land in any order (0003 before 0002): apply whichever is missing
    const migrator = new Migrator({
      db: this.db,
      provider: migrationProvider(this.ops.name),
      allowUnorderedMigrations: true,
    })
    const { error, results } = await migrator.migrateToLatest()
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName
      throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message}`)
    }
  }

  async close(): Promise<void> {
    await this.db.destroy()
  }

  async ping(): Promise<void> {
    await sql`select 1`.execute(this.db)
  }

  inject(items: readonly InjectItem[], opts: InjectOptions) {
    return this.tx((trx) => inject(trx, items, opts))
  }

  waitingQueues() {
    return reads.waitingQueues(this.db)
  }

  inFlightByLink() {
    return reads.inFlightByLink(this.db)
  }

  claimForSubmission(spec: ClaimSpec) {
    return this.tx((trx) => claimForSubmission(trx, this.ops, spec))
  }

  markSubmitted(jobId: string, now: number, actor: string) {
    return this.tx((trx) => markSubmitted(trx, jobId, now, actor))
  }

  markSubmittedMany(jobIds: readonly string[], now: number, actor: string) {
    return this.tx((trx) => markSubmittedMany(trx, jobIds, now, actor))
  }

  deferSubmission(jobId: string, reason: string, now: number, actor: string) {
    return this.tx((trx) => deferSubmission(trx, jobId, reason, now, actor))
  }

  rejectSubmission(
    jobId: string,
    failures: { id: string; class: FailureClass; reason: string }[],
    now: number,
    actor: string,
  ) {
    return this.tx((trx) => rejectSubmission(trx, jobId, failures, now, actor, this.policy))
  }

  openEngineJobs(opts: Parameters<Store['openEngineJobs']>[0]) {
    return reads.openEngineJobs(this.db, opts)
  }

  engineJobMembers(jobId: string) {
    return reads.engineJobMembers(this.db, jobId)
  }

  async touchEngineJobs(jobIds: readonly string[], now: number, progress: readonly string[]) {
    if (jobIds.length === 0) return
    await this.tx(async (trx) => {
      await trx
        .updateTable('engine_jobs')
        .set({ last_polled_at: now })
        .where('job_id', 'in', [...jobIds])
        .execute()
      if (progress.length) {
        await trx
          .updateTable('engine_jobs')
          .set({ last_progress_at: now })
          .where('job_id', 'in', [...progress])
          .execute()
      }
    })
  }

  recordOutcomes(outcomes: readonly FileOutcome[], policy: OutcomePolicy) {
    return this.tx((trx) => recordOutcomes(trx, outcomes, policy, this.policy))
  }

  requeueLostJob(jobId: string, reason: string, now: number, actor: string) {
    return this.tx((trx) => requeueLostJob(trx, jobId, reason, now, actor))
  }

  takeOverJobs(jobIds: readonly string[], agentId: string, now: number) {
    return this.tx((trx) => takeOverJobs(trx, jobIds, agentId, now))
  }

  orphanedJobs(liveAgentIds: readonly string[], limit: number) {
    return this.tx((trx) => orphanedJobs(trx, liveAgentIds, limit))
  }

  promoteDueRetries(now: number, limit: number, actor: string) {
    return this.tx((trx) => promoteDueRetries(trx, now, limit, actor))
  }

  kill(sel: Selector, reason: string, now: number, actor: string) {
    return this.tx((trx) => kill(trx, sel, reason, now, actor, this.policy))
  }

  retry(sel: Selector, now: number, actor: string) {
    return this.tx((trx) => retry(trx, sel, now, actor))
  }

  pendingCancels(limit: number) {
    return this.tx((trx) => pendingCancels(trx, limit))
  }

  markCancelSent(jobId: string, now: number) {
    return this.tx((trx) => markCancelSent(trx, jobId, now))
  }

  confirmKilled(ids: readonly string[], reason: string, now: number, actor: string) {
    return this.tx((trx) => confirmKilled(trx, ids, reason, now, actor, this.policy))
  }

  dueCleanups(now: number, limit: number) {
    return this.tx((trx) => dueCleanups(trx, now, limit))
  }

  recordCleanup(results: Parameters<Store['recordCleanup']>[0], now: number, actor: string) {
    return this.tx((trx) => recordCleanup(trx, results, now, actor))
  }

  activeHolds(now: number) {
    return this.tx((trx) => settings.activeHolds(trx, now))
  }

  addHold(hold: Omit<Hold, 'id'>, actor: string) {
    return this.tx((trx) => settings.addHold(trx, hold, actor))
  }

  releaseHolds(sel: { user: string; site?: string; class?: string }, now: number, actor: string) {
    return this.tx((trx) => settings.releaseHolds(trx, sel, now, actor))
  }

  linkSettings() {
    return this.tx((trx) => settings.linkSettings(trx))
  }

  setLinkSetting(
    link: string,
    change: { maxActive?: number | null; paused?: boolean },
    actor: string,
    now: number,
  ) {
    return this.tx((trx) => settings.setLinkSetting(trx, link, change, actor, now))
  }

  userWeights() {
    return this.tx((trx) => settings.userWeights(trx))
  }

  setUserWeight(user: string, weight: number, actor: string, now: number) {
    return this.tx((trx) => settings.setUserWeight(trx, user, weight, actor, now))
  }

  heartbeat(agent: Omit<AgentRow, 'stoppedAt'>) {
    return this.tx((trx) => settings.heartbeat(trx, agent))
  }

  async stopAgent(id: string, now: number) {
    await this.db.updateTable('agents').set({ stopped_at: now }).where('id', '=', id).execute()
  }

  agents() {
    return this.tx((trx) => settings.agents(trx))
  }

  heldJobs() {
    return leaseOps.heldJobs(this.db)
  }

  acquireLease(name: string, holder: string, ttlMs: number, now: number) {
    return this.tx((trx) => leaseOps.acquireLease(trx, name, holder, ttlMs, now))
  }

  releaseLeases(holders: readonly string[]) {
    return this.tx((trx) => leaseOps.releaseLeases(trx, holders))
  }

  leases() {
    return leaseOps.leases(this.db)
  }

  get(id: string) {
    return reads.get(this.db, id)
  }

  getMany(ids: readonly string[]) {
    return reads.getMany(this.db, ids)
  }

  history(id: string) {
    return reads.history(this.db, id)
  }

  eventsSince(afterId: number, filter: { user?: string; task?: string }, limit: number) {
    return reads.eventsSince(this.db, this.ops.name, afterId, filter, limit)
  }

  list(filter: ListFilter) {
    return reads.list(this.db, filter)
  }

  counts(filter?: { user?: string }) {
    return reads.counts(this.db, filter)
  }

  taskCounts(task: string, user?: string) {
    return reads.taskCounts(this.db, task, user)
  }

  queuePosition(record: Parameters<Store['queuePosition']>[0]) {
    return reads.queuePosition(this.db, record)
  }

  taskOwners(tasks: readonly string[]) {
    return taskOwners(this.db, tasks)
  }

  taskCallbackUrls(task: string, user: string, limit: number) {
    return taskReads.taskCallbackUrls(this.db, task, user, limit)
  }

  taskFailureReasons(task: string, user: string | undefined, limit: number) {
    return taskReads.taskFailureReasons(this.db, task, user, limit)
  }

  latestEventId() {
    return taskReads.latestEventId(this.db, this.ops.name)
  }

  dueWebhooks(now: number, limit: number, leaseMs: number) {
    return this.tx((trx) => outbox.dueWebhooks(trx, now, limit, leaseMs))
  }

  async recordWebhookAttempts(results: readonly WebhookAttempt[], now: number) {
    if (results.length) await this.tx((trx) => outbox.recordWebhookAttempts(trx, results, now))
  }

  pruneDeliveredWebhooks(before: number) {
    return this.tx((trx) => outbox.pruneDeliveredWebhooks(trx, before))
  }

  webhookBacklog() {
    return this.tx((trx) => outbox.webhookBacklog(trx))
  }

  failureClassCounts() {
    return taskReads.failureClassCounts(this.db)
  }

  finishedSeries(q: Parameters<Store['finishedSeries']>[0]) {
    return finished.finishedSeries(this.db, q)
  }

  finishedByLink(q: Parameters<Store['finishedByLink']>[0]) {
    return finished.finishedByLink(this.db, q)
  }

  openEngineJobCount(user?: string) {
    return stuck.openEngineJobCount(this.db, user)
  }

  queueAges(user?: string) {
    return stuck.queueAges(this.db, user)
  }

  oldestOfQueue(queue: QueueAge) {
    return stuck.oldestOfQueue(this.db, queue)
  }

  stalledEngineJobs(before: number, limit: number, user?: string) {
    return stuck.stalledEngineJobs(this.db, before, limit, user)
  }

  overdueRetries(before: number, limit: number, user?: string) {
    return stuck.overdueRetries(this.db, before, limit, user)
  }

  taskList(filter: TaskListFilter) {
    return taskList.taskList(this.db, filter)
  }

  pruneFinishedBuckets(now: number) {
    return this.tx((trx) => finished.pruneFinishedBuckets(trx, now))
  }

  recordAudit(entry: Omit<AuditEntry, 'id'>) {
    return this.tx((trx) => audit.recordAudit(trx, entry))
  }

  auditLog(limit: number, before?: number) {
    return audit.auditLog(this.db, limit, before)
  }
}
