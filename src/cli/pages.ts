import { type Backend, type BackendOptions, openBackend } from './backend.js'
import { type Column, table } from './format.js'

export interface Page<T> {
  items: T[]
  next: string | null
}

/** One page of a paged listing, or with `all` every page, followed cursor by cursor. */
export async function fetchPages<F extends { cursor?: string }, T>(
  opts: BackendOptions & { all?: boolean },
  filter: F,
  fetch: (backend: Backend, filter: F) => Promise<Page<T>>,
): Promise<Page<T>> {
  const backend = await openBackend(opts)
  try {
    let page = await fetch(backend, filter)
    while (opts.all && page.next !== null) {
      const more = await fetch(backend, { ...filter, cursor: page.next })
      page = { items: [...page.items, ...more.items], next: more.next }
    }
    return page
  } finally {
    await backend.close()
  }
}

/** Prints a page as JSON, or as a table that says how to get the next page. */
export function printPage<T>(
  page: Page<T>,
  opts: { json?: boolean; none: string; columns: Column[]; row: (item: T) => (string | number)[] },
): void {
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(page, null, 2)}\n`)
    return
  }
  if (page.items.length === 0) {
    process.stdout.write(`${opts.none}\n`)
    return
  }
  process.stdout.write(`${table(opts.columns, page.items.map(opts.row))}\n`)
  if (page.next !== null) {
    process.stdout.write(
      `${page.items.length} shown; more with --cursor ${page.next} (or --all for every page)\n`,
    )
  }
}
