/**
 * The Store: the only door to persisted state. Each file of ops/ declares the slice of it that it implements
 * and binds that slice to a StoreContext; the Store is their intersection, and `bindStore` puts them
 * together. Every method is one transaction. Loops take only the slice they use (`Pick<Store, …>`).
 */
import { type Kysely, Migrator, sql } from 'kysely'
import {
  DEFAULT_STORE_POLICY,
  type EndedListener,
  type StoreContext,
  type StorePolicy,
  storeContext,
} from './context.js'
import type { DialectName, DialectOps } from './dialect.js'
import { migrationProvider } from './migrations/index.js'
import { type AgentOps, agentOps } from './ops/agents.js'
import { type AuditOps, auditOps } from './ops/audit.js'
import { type ClaimOps, claimOps } from './ops/claim.js'
import { type CleanupOps, cleanupOps } from './ops/cleanup.js'
import { type CouchOps, couchOps } from './ops/couch.js'
import { type EngineJobOps, engineJobOps } from './ops/engine-jobs.js'
import { type FinishedReads, finishedReads } from './ops/finished-reads.js'
import { type HoldOps, holdOps } from './ops/holds.js'
import { type InjectOps, injectOps } from './ops/inject.js'
import { type KillRetryOps, killRetryOps } from './ops/kill-retry.js'
import { type LeaseOps, leaseOps } from './ops/leases.js'
import { type LinkLimitOps, linkLimitOps } from './ops/link-limits.js'
import { type LinkSettingOps, linkSettingOps } from './ops/link-settings.js'
import { type OutcomeOps, outcomeOps } from './ops/outcomes.js'
import { type PublicationOps, publicationOps } from './ops/publication.js'
import { type PublicationReads, publicationReads } from './ops/publication-reads.js'
import { type PublicationRetryOps, publicationRetryOps } from './ops/publication-retry.js'
import { type PublicationViews, publicationViews } from './ops/publication-views.js'
import { type QueueReads, queueReads } from './ops/queue-reads.js'
import { type RecoveryOps, recoveryOps } from './ops/recovery.js'
import { type RetryOps, retryOps } from './ops/retries.js'
import { type StuckReads, stuckReads } from './ops/stuck-reads.js'
import { type SubmissionOps, submissionOps } from './ops/submission.js'
import { type TaskListReads, taskListReads } from './ops/task-list.js'
import { type TaskOwnerReads, taskOwnerReads } from './ops/task-owners.js'
import { type TaskReads, taskReads } from './ops/task-reads.js'
import { type TransferReads, transferReads } from './ops/transfer-reads.js'
import { type UserWeightOps, userWeightOps } from './ops/user-weights.js'
import { type WebhookOps, webhookOps } from './ops/webhook-outbox.js'
import type { Database } from './schema.js'

/** Opening, migrating and closing the database. */
export interface StoreLifecycle {
  readonly dialect: DialectName
  migrate(): Promise<void>
  close(): Promise<void>
  ping(): Promise<void>
  /**
   * Tells `listener` of every record this store's transactions move into DONE, FAILED or KILLED, once each,
   * after the commit (never for a transaction rolled back). Returns the way to stop listening.
   */
  onEnded(listener: EndedListener): () => void
}

export type Store = StoreLifecycle &
  InjectOps &
  QueueReads &
  ClaimOps &
  SubmissionOps &
  EngineJobOps &
  OutcomeOps &
  RecoveryOps &
  RetryOps &
  KillRetryOps &
  CleanupOps &
  HoldOps &
  LinkSettingOps &
  LinkLimitOps &
  UserWeightOps &
  AgentOps &
  LeaseOps &
  TransferReads &
  TaskOwnerReads &
  TaskReads &
  WebhookOps &
  FinishedReads &
  StuckReads &
  TaskListReads &
  AuditOps &
  PublicationOps &
  PublicationReads &
  PublicationRetryOps &
  PublicationViews &
  CouchOps

/** A Store on Kysely (SQLite or PostgreSQL), with its database at hand for schema tools and tests. */
export type KyselyStore = Store & { readonly db: Kysely<Database>; readonly policy: StorePolicy }

function lifecycle(s: StoreContext): StoreLifecycle {
  return {
    dialect: s.dialect.name,
    async migrate() {
      // migrations written in parallel may land in any order (0003 before 0002): apply whichever is missing
      const migrator = new Migrator({
        db: s.db,
        provider: migrationProvider(s.dialect.name),
        allowUnorderedMigrations: true,
      })
      const { error, results } = await migrator.migrateToLatest()
      if (error) {
        const failed = results?.find((r) => r.status === 'Error')?.migrationName
        throw new Error(`database migration ${failed ?? ''} failed: ${(error as Error).message}`)
      }
    },
    close: () => s.db.destroy(),
    async ping() {
      await sql`select 1`.execute(s.db)
    },
    onEnded(listener) {
      s.endedListeners.add(listener)
      return () => s.endedListeners.delete(listener)
    },
  }
}

/** One implementation for SQLite and PostgreSQL: the slices of ops/ bound to one database. */
export function bindStore(
  db: Kysely<Database>,
  dialect: DialectOps,
  policy: StorePolicy = DEFAULT_STORE_POLICY,
): KyselyStore {
  const s = storeContext(db, dialect, policy)
  return {
    db,
    policy,
    ...lifecycle(s),
    ...injectOps(s),
    ...queueReads(s),
    ...claimOps(s),
    ...submissionOps(s),
    ...engineJobOps(s),
    ...outcomeOps(s),
    ...recoveryOps(s),
    ...retryOps(s),
    ...killRetryOps(s),
    ...cleanupOps(s),
    ...holdOps(s),
    ...linkSettingOps(s),
    ...linkLimitOps(s),
    ...userWeightOps(s),
    ...agentOps(s),
    ...leaseOps(s),
    ...transferReads(s),
    ...taskOwnerReads(s),
    ...taskReads(s),
    ...webhookOps(s),
    ...finishedReads(s),
    ...stuckReads(s),
    ...taskListReads(s),
    ...auditOps(s),
    ...publicationOps(s),
    ...publicationReads(s),
    ...publicationRetryOps(s),
    ...publicationViews(s),
    ...couchOps(s),
  }
}
