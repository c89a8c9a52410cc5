import { intOption } from '../args.js'
import type { BackendOptions, TaskFilter } from '../backend.js'
import { bytes, type Column, stateLine } from '../format.js'
import { fetchPages, printPage } from '../pages.js'

export interface TasksOptions extends BackendOptions {
  user?: string
  search?: string
  status?: 'all' | 'active' | 'complete' | 'failed'
  limit?: string
  cursor?: string
  all?: boolean
  json?: boolean
}

/** Task names are never cut: they are what wait, kill and retry take. */
const COLUMNS: Column[] = [
  { head: 'task', fit: 'keep' },
  { head: 'user' },
  { head: 'files', fit: 'keep' },
  { head: 'states', fit: 'wrap', min: 12 },
  { head: 'bytes done', fit: 'keep' },
]

/** `aso tasks`: tasks with their files per state, newest first. */
export async function tasksCommand(opts: TasksOptions) {
  const filter: TaskFilter = {
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.search !== undefined ? { q: opts.search } : {}),
    ...(opts.status !== undefined ? { status: opts.status } : {}),
    ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
    limit: intOption(opts.limit ?? '50', '--limit', 1, 200),
  }
  const page = await fetchPages(opts, filter, (backend, f) => backend.tasks(f))
  printPage(page, {
    json: opts.json,
    none: 'no tasks match',
    columns: COLUMNS,
    row: (t) => [
      t.task,
      t.user,
      t.total,
      stateLine(t.states),
      `${bytes(t.bytes.done)} of ${bytes(t.bytes.total)}`,
    ],
  })
}
