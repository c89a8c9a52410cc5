import type { ListResponse } from '../../contract/schemas.js'
import type { TransferState } from '../../domain/states.js'
import { intOption, sinceOption } from '../args.js'
import { type BackendOptions, type ListFilter, openBackend } from '../backend.js'
import { type Column, table } from '../format.js'

export interface ListOptions extends BackendOptions {
  user?: string
  task?: string
  state?: TransferState
  class?: string
  source?: string
  destination?: string
  since?: string
  limit?: string
  cursor?: string
  all?: boolean
  json?: boolean
}

/** Ids are never cut: they are what explain, kill and retry take. */
const COLUMNS: Column[] = [
  { head: 'id', fit: 'keep' },
  { head: 'state', fit: 'keep' },
  { head: 'task' },
  { head: 'file' },
  { head: 'why', fit: 'below' },
]

function filterOf(opts: ListOptions): ListFilter {
  return {
    ...(opts.user !== undefined ? { user: opts.user } : {}),
    ...(opts.task !== undefined ? { task: opts.task } : {}),
    ...(opts.state !== undefined ? { state: opts.state } : {}),
    ...(opts.class !== undefined ? { class: opts.class } : {}),
    ...(opts.source !== undefined ? { source: opts.source } : {}),
    ...(opts.destination !== undefined ? { destination: opts.destination } : {}),
    ...(opts.since !== undefined ? { updatedSince: sinceOption(opts.since) } : {}),
    ...(opts.cursor !== undefined ? { cursor: opts.cursor } : {}),
    limit: intOption(opts.limit ?? '100', '--limit', 1, 1000),
  }
}

/** `aso list`: transfers with their ids, filtered as the API's list; one page, or every page with --all. */
export async function listCommand(opts: ListOptions) {
  const filter = filterOf(opts)
  const backend = await openBackend(opts)
  let page: ListResponse
  try {
    page = await backend.list(filter)
    while (opts.all && page.next !== null) {
      const more = await backend.list({ ...filter, cursor: page.next })
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
    process.stdout.write('no transfers match\n')
    return
  }
  const rows = page.items.map((r) => [
    r.id,
    r.state,
    r.task,
    r.destinationLfn.slice(r.destinationLfn.lastIndexOf('/') + 1),
    [r.failureClass, r.failureReason].filter(Boolean).join(': '),
  ])
  process.stdout.write(`${table(COLUMNS, rows)}\n`)
  if (page.next !== null) {
    process.stdout.write(
      `${page.items.length} shown; more with --cursor ${page.next} (or --all for every page)\n`,
    )
  }
}
