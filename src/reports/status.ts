import { TRANSFER_STATES, type TransferState } from '../domain/states.js'
import type { PublicationCounts } from '../store/ops/publication-reads.js'
import type { CountRow } from '../store/ops/transfer-reads.js'
import type { Store } from '../store/store.js'

export interface StatusReport {
  total: number
  states: Partial<Record<TransferState, number>>
  bytes: Partial<Record<TransferState, number>>
  links: { link: string; states: Partial<Record<TransferState, number>> }[]
  users: { user: string; states: Partial<Record<TransferState, number>> }[]
  /** files per publication state, NOT_REQUIRED included */
  publication: PublicationCounts
}

/**
 * Publication counts with NOT_REQUIRED filled in: the store counts only publishable files (its index leaves the
 * others out), so the rest of `total` is NOT_REQUIRED.
 */
export function withNotRequired(counts: PublicationCounts, total: number): PublicationCounts {
  const publishable = counts.PENDING + counts.PUBLISHING + counts.PUBLISHED + counts.FAILED
  return { ...counts, NOT_REQUIRED: Math.max(0, total - publishable) }
}

function fold(rows: readonly CountRow[], key: (r: CountRow) => string) {
  const out = new Map<string, Partial<Record<TransferState, number>>>()
  for (const r of rows) {
    const k = key(r)
    const m = out.get(k) ?? {}
    m[r.state] = (m[r.state] ?? 0) + r.n
    out.set(k, m)
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : 1))
}

/** Counts per state, per link and per user, from the rollup (no scan of records). */
export async function statusReport(
  store: Store,
  filter: { user?: string; task?: string } = {},
): Promise<StatusReport> {
  let rows: CountRow[]
  if (filter.task) {
    const t = await store.taskCounts(filter.task, filter.user)
    rows = t.map((r) => ({
      source: '',
      destination: '',
      user: filter.user ?? '',
      state: r.state,
      n: r.n,
      bytes: r.bytes,
    }))
  } else rows = await store.counts(filter.user ? { user: filter.user } : {})
  const states: StatusReport['states'] = {}
  const bytes: StatusReport['bytes'] = {}
  for (const s of TRANSFER_STATES) {
    const n = rows.filter((r) => r.state === s).reduce((a, r) => a + r.n, 0)
    if (n) {
      states[s] = n
      bytes[s] = rows.filter((r) => r.state === s).reduce((a, r) => a + r.bytes, 0)
    }
  }
  const total = Object.values(states).reduce((a, n) => a + n, 0)
  const links = filter.task
    ? []
    : fold(rows, (r) => `${r.source}->${r.destination}`).map(([link, s]) => ({ link, states: s }))
  const users = filter.task ? [] : fold(rows, (r) => r.user).map(([user, s]) => ({ user, states: s }))
  const publication = withNotRequired(await store.publicationCounts(filter), total)
  return { total, states, bytes, links, users, publication }
}
