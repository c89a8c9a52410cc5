import type { TransferState } from '../../domain/states.js'
import { intOption, sinceOption } from '../args.js'
import type { BackendOptions, ListFilter } from '../backend.js'
import type { Column } from '../format.js'
import { fetchPages, printPage } from '../pages.js'

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
  const page = await fetchPages(opts, filterOf(opts), (backend, filter) => backend.list(filter))
  printPage(page, {
    json: opts.json,
    none: 'no transfers match',
    columns: COLUMNS,
    row: (r) => [
      r.id,
      r.state,
      r.task,
      r.destinationLfn.slice(r.destinationLfn.lastIndexOf('/') + 1),
      [r.failureClass, r.failureReason].filter(Boolean).join(': '),
    ],
  })
}
