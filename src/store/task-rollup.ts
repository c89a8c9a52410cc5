import type { TransferState } from '../domain/states.js'
import { chunk, type Trx } from './dialect.js'
import type { TaskCountsTable } from './schema.js'

/** The per-state file count columns of `task_counts`. */
export const TASK_STATE_COLUMNS = {
  NEW: 'n_new',
  SUBMITTING: 'n_submitting',
  SUBMITTED: 'n_submitted',
  RETRY: 'n_retry',
  KILLING: 'n_killing',
  DONE: 'n_done',
  FAILED: 'n_failed',
  KILLED: 'n_killed',
} as const satisfies Record<TransferState, keyof TaskCountsTable>

type TaskRow = Omit<TaskCountsTable, 'seq'>

/** One rollup change: +n / -n files (and bytes) of a task's user in one state. */
export interface TaskDelta {
  task: string
  user: string
  state: string
  n: number
  bytes: number
}

function emptyRow(task: string, user: string): TaskRow {
  return {
    task,
    user,
    n_new: 0,
    n_submitting: 0,
    n_submitted: 0,
    n_retry: 0,
    n_killing: 0,
    n_done: 0,
    n_failed: 0,
    n_killed: 0,
    bytes: 0,
    done_bytes: 0,
  }
}

/**
 * Adds the changes of one transaction to `task_counts`: one upsert row per (task, user), in key order so that
 * agents finishing files of the same tasks lock the rows in the same order.
 */
export async function applyTaskDeltas(trx: Trx, deltas: Iterable<TaskDelta>): Promise<void> {
  const rows = new Map<string, TaskRow>()
  for (const d of deltas) {
    if (d.n === 0) continue
    const column = TASK_STATE_COLUMNS[d.state as TransferState]
    const key = `${d.task}\0${d.user}`
    const row = rows.get(key) ?? emptyRow(d.task, d.user)
    row[column] += d.n
    row.bytes += d.bytes
    if (d.state === 'DONE') row.done_bytes += d.bytes
    rows.set(key, row)
  }
  const values = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r)
  for (const part of chunk(values, 200)) {
    await trx
      .insertInto('task_counts')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['task', 'user']).doUpdateSet((eb) => {
          const add = (c: Exclude<keyof TaskRow, 'task' | 'user'>) =>
            eb(`task_counts.${c}`, '+', eb.ref(`excluded.${c}`))
          return {
            n_new: add('n_new'),
            n_submitting: add('n_submitting'),
            n_submitted: add('n_submitted'),
            n_retry: add('n_retry'),
            n_killing: add('n_killing'),
            n_done: add('n_done'),
            n_failed: add('n_failed'),
            n_killed: add('n_killed'),
            bytes: add('bytes'),
            done_bytes: add('done_bytes'),
          }
        }),
      )
      .execute()
  }
}
