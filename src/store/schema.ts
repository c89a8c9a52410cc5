/** Table shapes as Kysely sees them. Times are epoch milliseconds; booleans are 0/1 integers in both dialects. */
import type { Generated } from 'kysely'

export interface TransfersTable {
  /** injection order; the physical key (see migrations) */
  seq: Generated<number>
  id: string
  user: string
  /** '' when the request has no group (keeps keys and indexes free of NULL) */
  grp: string
  role: string
  task: string
  job_id: string
  job_retry: number
  type: string
  source: string
  source_lfn: string
  destination: string
  destination_lfn: string
  size: number
  adler32: string
  priority: number
  activity: string
  publish: number
  dataset: string | null
  callback_url: string | null
  state: string
  hold_reason: string | null
  attempt: number
  max_attempts: number
  submissions: number
  next_attempt_at: number | null
  engine: string | null
  engine_job_id: string | null
  engine_file_id: string | null
  agent_id: string | null
  method: string | null
  failure_class: string | null
  failure_reason: string | null
  supersede_pending: number
  created_at: number
  updated_at: number
  submitted_at: number | null
  finished_at: number | null
  source_cleanup: string
  cleanup_at: number | null
  /** NOT_REQUIRED | PENDING | PUBLISHING | PUBLISHED | FAILED (domain/publication.ts) */
  publication_state: string
  block_name: string | null
  publication_class: string | null
  publication_reason: string | null
}

export interface EngineJobsTable {
  job_id: string
  engine: string
  agent_id: string | null
  user: string
  grp: string
  role: string
  source: string
  destination: string
  /** SUBMITTING | SUBMITTED | FINISHED | LOST */
  state: string
  files: number
  created_at: number
  submitted_at: number | null
  finished_at: number | null
  last_polled_at: number
  last_progress_at: number
  cancel_requested_at: number | null
  cancel_sent_at: number | null
}

export interface EventsTable {
  id: Generated<number>
  at: number
  transfer_seq: number
  transfer_id: string
  user: string
  task: string
  from_state: string | null
  to_state: string
  reason: string
  attempt: number
  engine_job_id: string | null
  actor: string
  /** the publication state this event set (publication events and transfer events that change it), else null */
  publication: string | null
}

/** Rollup kept in step with every transition: what status, fair share and the dashboard read. */
export interface TransferCountsTable {
  user: string
  grp: string
  role: string
  source: string
  destination: string
  state: string
  n: number
  bytes: number
}

export interface HoldsTable {
  id: Generated<number>
  user: string
  /** destination site, or '*' for every site (credential holds) */
  site: string
  class: string
  reason: string
  since: number
  until: number
  released_at: number | null
}

export interface LinkSettingsTable {
  link: string
  /** an operator's limit; on an adaptive link it pins the limit until unpinned */
  max_active: number | null
  paused: number
  updated_at: number
  updated_by: string
  /** the adaptive limit the leader's tuner chose (migrations/0008); null: not tuned */
  adaptive_active: Generated<number | null>
  /** the tuner's memory of the link (domain/adaptive-limit.ts AdaptiveState), JSON */
  adaptive_state: Generated<string | null>
  /** the end of the last interval the tuner measured (epoch ms) */
  tuned_at: Generated<number | null>
}

/** One change of an adaptive link's limit and why (migrations/0008). */
export interface LinkDecisionsTable {
  id: Generated<number>
  at: number
  link: string
  from_active: number
  to_active: number
  reason: string
  /** JSON: the figures the decision was made on */
  measurements: string
}

export interface UserSettingsTable {
  user: string
  weight: number
  updated_at: number
  updated_by: string
}

export interface AuditTable {
  id: Generated<number>
  at: number
  actor: string
  action: string
  target: string
  detail: string
}

export interface AgentsTable {
  id: string
  host: string
  pid: number
  started_at: number
  heartbeat_at: number
  /** JSON: loop name -> last run time */
  loops: string
  stopped_at: number | null
}

export interface LeasesTable {
  name: string
  holder: string
  until: number
}

/** A webhook notification waiting for (or done with) delivery; see migrations/0002-webhooks.ts. */
export interface WebhookOutboxTable {
  id: Generated<number>
  transfer_id: string
  user: string
  task: string
  callback_url: string
  /** the JSON body, fixed when the row is written: every attempt sends the same bytes */
  payload: string
  /** PENDING | DELIVERED | FAILED (attempts used up) */
  state: string
  attempts: number
  created_at: number
  next_attempt_at: number
  delivered_at: number | null
  last_error: string | null
}

/** Files that ended (DONE, FAILED, KILLED) per minute, link, user, state and class (migrations/0004). */
export interface TransferMinutesTable {
  /** epoch ms of the minute's start */
  minute: number
  source: string
  destination: string
  user: string
  state: string
  /** '' for DONE */
  failure_class: string
  files: number
  bytes: number
}

/** Files that ended per hour, link, state and class. */
export interface TransferHoursTable {
  /** epoch ms of the hour's start */
  hour: number
  source: string
  destination: string
  state: string
  failure_class: string
  files: number
  bytes: number
}

/** Files that ended per user, hour and state. */
export interface UserHoursTable {
  user: string
  hour: number
  state: string
  files: number
  bytes: number
}

/** Files per state and bytes of one task of one user, kept in step with every transition. */
export interface TaskCountsTable {
  seq: Generated<number>
  task: string
  user: string
  n_new: number
  n_submitting: number
  n_submitted: number
  n_retry: number
  n_killing: number
  n_done: number
  n_failed: number
  n_killed: number
  bytes: number
  done_bytes: number
}

/** The user each task name belongs to: the user of the first file injected into it. */
export interface TaskOwnersTable {
  task: string
  user: string
  claimed_at: number
}

/** A block of published files: a Rucio dataset in `scope`, attached to the container `dataset` (migrations/0006). */
export interface PublicationBlocksTable {
  name: string
  user: string
  dataset: string
  destination: string
  scope: string
  rse: string
  rule_account: string
  /** OPEN | PUBLISHING | PUBLISHED | FAILED */
  state: string
  /** when its first file joined */
  opened_at: number
  /** why it was closed (full, complete, timeout) */
  close_reason: string | null
  /** failed catalog calls since it was closed (or retried): crashes are never counted */
  attempts: number
  next_attempt_at: number | null
  failure_class: string | null
  failure_reason: string | null
  rule_id: string | null
  updated_at: number
  published_at: number | null
}

export interface Database {
  transfers: TransfersTable
  engine_jobs: EngineJobsTable
  events: EventsTable
  transfer_counts: TransferCountsTable
  holds: HoldsTable
  link_settings: LinkSettingsTable
  link_decisions: LinkDecisionsTable
  user_settings: UserSettingsTable
  audit: AuditTable
  agents: AgentsTable
  leases: LeasesTable
  webhook_outbox: WebhookOutboxTable
  transfer_minutes: TransferMinutesTable
  transfer_hours: TransferHoursTable
  user_hours: UserHoursTable
  task_counts: TaskCountsTable
  task_owners: TaskOwnersTable
  publication_blocks: PublicationBlocksTable
  couch_feeds: CouchFeedsTable
  couch_docs: CouchDocsTable
}

/** A followed CouchDB database (migrations/0007): its feed checkpoint, the write-back cursor, counters. */
export interface CouchFeedsTable {
  name: string
  /** the feed's last_seq, opaque (CouchDB 2+ sends strings, PouchDB numbers): stored and sent back as text */
  seq: string
  /** the last event of the event stream whose transfers were marked for write-back */
  event_cursor: number
  read_at: number | null
  /** the last time a feed read reached the head of the feed */
  caught_up_at: number | null
  /** changes still behind the checkpoint, when the server said (CouchDB's `pending`) */
  behind: number | null
  ingested: number
  rejected: number
  kills: number
  retries: number
  written: number
  conflicts: number
  forbidden: number
  last_error: string | null
  updated_at: number
}

/** A CouchDB document the bridge ingested (or refused) and keeps up to date (migrations/0007). */
export interface CouchDocsTable {
  doc_id: string
  feed: string
  transfer_id: string | null
  /** the last revision read from the feed and acted on */
  seen_rev: string | null
  /** the revision the bridge's last write produced */
  written_rev: string | null
  /** the document's state as far as the bridge has accounted for it */
  doc_state: string
  /** the state a write in flight sets (so that its echo on the feed after a crash is known as ours) */
  intent_state: string | null
  /** write-back generation: > 0 while a write-back is due */
  pending: number
  /** why the document was refused (written back as failure_reason with state failed) */
  rejected_reason: string | null
  /** why a document that asked for publication is not published */
  publication_note: string | null
  deleted: number
  last_error: string | null
  ingested_at: number
  updated_at: number
}
