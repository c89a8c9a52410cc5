import { isTerminal, TRANSFER_STATES, type TransferState } from '../domain/states.js'
import type { PublicationCounts } from '../store/ops/publication-reads.js'
import type { TaskFailureReason } from '../store/ops/task-reads.js'
import type { Store } from '../store/store.js'
import { withNotRequired } from './status.js'

/** Where a task's files are: what `GET /tasks/{task}`, `aso wait` and a post-job read. */
export interface TaskSummary {
  task: string
  /** the files counted: the caller's own, or everyone's for operators */
  total: number
  terminal: number
  /** every file is DONE, FAILED or KILLED (and there is at least one) */
  complete: boolean
  states: Partial<Record<TransferState, number>>
  /** failure class → files (FAILED, KILLED, and files waiting in RETRY or on a hold) */
  classes: Record<string, number>
  counts: { state: TransferState; failureClass: string | null; n: number; bytes: number }[]
  bytes: { total: number; done: number }
  /** each distinct failure reason with its count, most frequent first */
  failures: TaskFailureReason[]
  /** files per publication state, NOT_REQUIRED included */
  publication: PublicationCounts
}

/** Counts per state and failure class, bytes and failure reasons of one task (`user`: only that user's files). */
export async function taskSummary(store: Store, task: string, user?: string): Promise<TaskSummary> {
  const counts = await store.taskCounts(task, user)
  const states: TaskSummary['states'] = {}
  const classes: Record<string, number> = {}
  let total = 0
  let terminal = 0
  let bytes = 0
  let done = 0
  for (const c of counts) {
    states[c.state] = (states[c.state] ?? 0) + c.n
    if (c.failureClass !== null) classes[c.failureClass] = (classes[c.failureClass] ?? 0) + c.n
    total += c.n
    bytes += c.bytes
    if (isTerminal(c.state)) terminal += c.n
    if (c.state === 'DONE') done += c.bytes
  }
  const ordered = Object.fromEntries(
    TRANSFER_STATES.filter((s) => states[s] !== undefined).map((s) => [s, states[s]]),
  )
  const failed = (states.FAILED ?? 0) + (states.KILLED ?? 0) + (states.RETRY ?? 0)
  return {
    task,
    total,
    terminal,
    complete: total > 0 && terminal === total,
    states: ordered,
    classes,
    counts,
    bytes: { total: bytes, done },
    failures: failed > 0 ? await store.taskFailureReasons(task, user, 20) : [],
    publication: withNotRequired(
      await store.publicationCounts({ task, ...(user !== undefined ? { user } : {}) }),
      total,
    ),
  }
}
