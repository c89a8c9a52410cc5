import type { TaskListResponse } from '../../contract/dashboard.js'
import { intOption } from '../args.js'
import { type BackendOptions, openBackend, type TaskFilter } from '../backend.js'
import { bytes, type Column, stateLine, table } from '../format.js'

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
  const backend = await openBackend(opts)
  let page: TaskListResponse
  try {
    page = await backend.tasks(filter)
    while (opts.all && page.next !== null) {
      const more = await backend.tasks({ ...filter, cursor: page.next })
      page = { items: [...page.items, ...more.items], next: more.next }
    }
  } finally {
    await backend.close()
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(page, null, 2)}\n`)
    return
  }
  if (page.items.length === 0) {
    process.stdout.write('no tasks match\n')
    return
  }
  const rows = page.items.map((t) => [
    t.task,
    t.user,
    t.total,
    stateLine(t.states),
    `${bytes(t.bytes.done)} of ${bytes(t.bytes.total)}`,
  ])
  process.stdout.write(`${table(COLUMNS, rows)}\n`)
  if (page.next !== null) {
    process.stdout.write(
      `${page.items.length} shown; more with --cursor ${page.next} (or --all for every page)\n`,
    )
  }
}
