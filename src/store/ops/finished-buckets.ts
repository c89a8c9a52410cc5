import { chunk, type Trx } from '../dialect.js'
import type { ChangedRow } from '../transition.js'

interface Finished {
  source: string
  destination: string
  user: string
  state: string
  failureClass: string
  files: number
  bytes: number
}

/** Files that ended in one transaction, per (link, user, state, failure class): what the time buckets add. */
export type FinishedTally = Map<string, Finished>

/** Counts rows that just ended DONE, FAILED or KILLED (with the class they ended with). */
export function tallyFinished(
  tally: FinishedTally,
  rows: readonly ChangedRow[],
  state: 'DONE' | 'FAILED' | 'KILLED',
  failureClass: string | null,
): void {
  const cls = state === 'DONE' ? '' : (failureClass ?? '')
  for (const r of rows) {
    const key = `${r.source}\0${r.destination}\0${r.user}\0${state}\0${cls}`
    const t = tally.get(key) ?? {
      source: r.source,
      destination: r.destination,
      user: r.user,
      state,
      failureClass: cls,
      files: 0,
      bytes: 0,
    }
    t.files += 1
    t.bytes += Number(r.size)
    tally.set(key, t)
  }
}

/** Sums the groups by a coarser key, in key order (agents lock the rows they upsert in the same order). */
function regroup<T extends { files: number; bytes: number }>(
  groups: Iterable<Finished>,
  key: (g: Finished) => string,
  row: (g: Finished) => T,
): T[] {
  const out = new Map<string, T>()
  for (const g of groups) {
    const k = key(g)
    const r = out.get(k)
    if (r) {
      r.files += g.files
      r.bytes += g.bytes
    } else out.set(k, row(g))
  }
  return [...out.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r)
}

/**
 * Adds a transaction's finished files to the buckets of `now` (migrations/0004): the minute per link and user,
 * the hour per link, the hour per user; one upsert row per group and table, inside the transaction of the
 * terminal transitions.
 */
export async function recordFinished(trx: Trx, tally: FinishedTally, now: number): Promise<void> {
  if (tally.size === 0) return
  const minute = Math.floor(now / 60_000) * 60_000
  const hour = Math.floor(now / 3_600_000) * 3_600_000
  const groups = [...tally.values()]
  const minutes = regroup(
    groups,
    (g) => `${g.source}\0${g.destination}\0${g.user}\0${g.state}\0${g.failureClass}`,
    (g) => ({
      minute,
      source: g.source,
      destination: g.destination,
      user: g.user,
      state: g.state,
      failure_class: g.failureClass,
      files: g.files,
      bytes: g.bytes,
    }),
  )
  for (const part of chunk(minutes, 500)) {
    await trx
      .insertInto('transfer_minutes')
      .values(part)
      .onConflict((oc) =>
        oc
          .columns(['minute', 'source', 'destination', 'user', 'state', 'failure_class'])
          .doUpdateSet((eb) => ({
            files: eb('transfer_minutes.files', '+', eb.ref('excluded.files')),
            bytes: eb('transfer_minutes.bytes', '+', eb.ref('excluded.bytes')),
          })),
      )
      .execute()
  }
  const hours = regroup(
    groups,
    (g) => `${g.source}\0${g.destination}\0${g.state}\0${g.failureClass}`,
    (g) => ({
      hour,
      source: g.source,
      destination: g.destination,
      state: g.state,
      failure_class: g.failureClass,
      files: g.files,
      bytes: g.bytes,
    }),
  )
  for (const part of chunk(hours, 500)) {
    await trx
      .insertInto('transfer_hours')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['hour', 'source', 'destination', 'state', 'failure_class']).doUpdateSet((eb) => ({
          files: eb('transfer_hours.files', '+', eb.ref('excluded.files')),
          bytes: eb('transfer_hours.bytes', '+', eb.ref('excluded.bytes')),
        })),
      )
      .execute()
  }
  const users = regroup(
    groups,
    (g) => `${g.user}\0${g.state}`,
    (g) => ({ user: g.user, hour, state: g.state, files: g.files, bytes: g.bytes }),
  )
  for (const part of chunk(users, 500)) {
    await trx
      .insertInto('user_hours')
      .values(part)
      .onConflict((oc) =>
        oc.columns(['user', 'hour', 'state']).doUpdateSet((eb) => ({
          files: eb('user_hours.files', '+', eb.ref('excluded.files')),
          bytes: eb('user_hours.bytes', '+', eb.ref('excluded.bytes')),
        })),
      )
      .execute()
  }
}
