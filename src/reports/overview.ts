/** The dashboard's overview and time series: counts from the rollup, finished files from the time buckets. */
import type { OverviewResponse, TimeseriesResponse } from '../contract/dashboard.js'
import { TRANSFER_STATES, type TransferState } from '../domain/states.js'
import type { FinishedBucket } from '../store/ops/finished-reads.js'
import type { Store } from '../store/store.js'

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000

/** DONE / (DONE + FAILED), or null when nothing ended. */
export function successRate(done: number, failed: number): number | null {
  return done + failed === 0 ? null : done / (done + failed)
}

/** The last `buckets` buckets of `bucketMs` up to and including the current one: [from, to). */
export function lastBuckets(now: number, bucketMs: number, buckets: number): { from: number; to: number } {
  const to = Math.floor(now / bucketMs) * bucketMs + bucketMs
  return { from: to - buckets * bucketMs, to }
}

function totals(rows: readonly FinishedBucket[]) {
  const t = { done: 0, failed: 0, killed: 0, doneBytes: 0, failedBytes: 0 }
  for (const r of rows) {
    if (r.state === 'DONE') {
      t.done += r.files
      t.doneBytes += r.bytes
    } else if (r.state === 'FAILED') {
      t.failed += r.files
      t.failedBytes += r.bytes
    } else if (r.state === 'KILLED') t.killed += r.files
  }
  return { ...t, successRate: successRate(t.done, t.failed) }
}

/** Counts per state, the last hour's finished files, engine jobs and the oldest waiting file, in `user`'s scope. */
export async function overviewReport(
  store: Store,
  user: string | undefined,
  now: number,
): Promise<OverviewResponse> {
  const scoped = user !== undefined ? { user } : {}
  const [rows, lastHour, activeEngineJobs, queues] = await Promise.all([
    store.counts(scoped),
    store.finishedSeries({ span: 'minute', ...lastBuckets(now, MINUTE_MS, 60), ...scoped }),
    store.openEngineJobCount(user),
    store.queueAges(user),
  ])
  const states: OverviewResponse['states'] = {}
  const bytes: OverviewResponse['bytes'] = {}
  for (const r of rows) {
    states[r.state] = (states[r.state] ?? 0) + r.n
    bytes[r.state] = (bytes[r.state] ?? 0) + r.bytes
  }
  const ordered = <T>(m: Partial<Record<TransferState, T>>) =>
    Object.fromEntries(TRANSFER_STATES.filter((s) => m[s] !== undefined).map((s) => [s, m[s]]))
  let oldest = null
  for (const q of queues) {
    if (
      q.oldestCreatedAt !== null &&
      (oldest === null || q.oldestCreatedAt < (oldest.oldestCreatedAt ?? 0))
    ) {
      oldest = q
    }
  }
  return {
    scope: { user: user ?? null },
    asOf: now,
    total: Object.values(states).reduce((a, n) => a + n, 0),
    states: ordered(states),
    bytes: ordered(bytes),
    lastHour: totals(lastHour),
    successRate: successRate(states.DONE ?? 0, states.FAILED ?? 0),
    activeEngineJobs,
    oldestWaiting:
      oldest && oldest.oldestCreatedAt !== null
        ? {
            id: await store.oldestOfQueue(oldest),
            user: oldest.user,
            source: oldest.source,
            destination: oldest.destination,
            createdAt: oldest.oldestCreatedAt,
          }
        : null,
  }
}

/** Files and bytes that ended per minute over the last hour, or per hour over the last week (zero-filled). */
export async function timeseriesReport(
  store: Store,
  range: 'hour' | 'week',
  user: string | undefined,
  now: number,
): Promise<TimeseriesResponse> {
  const bucketMs = range === 'hour' ? MINUTE_MS : HOUR_MS
  const { from, to } = lastBuckets(now, bucketMs, range === 'hour' ? 60 : 168)
  const rows = await store.finishedSeries({
    span: range === 'hour' ? 'minute' : 'hour',
    from,
    to,
    ...(user !== undefined ? { user } : {}),
  })
  const points: TimeseriesResponse['points'] = []
  const index = new Map<number, TimeseriesResponse['points'][number]>()
  for (let at = from; at < to; at += bucketMs) {
    const p = { at, done: 0, failed: 0, killed: 0, doneBytes: 0, failedBytes: 0 }
    points.push(p)
    index.set(at, p)
  }
  for (const r of rows) {
    const p = index.get(r.at)
    if (!p) continue
    if (r.state === 'DONE') {
      p.done += r.files
      p.doneBytes += r.bytes
    } else if (r.state === 'FAILED') {
      p.failed += r.files
      p.failedBytes += r.bytes
    } else if (r.state === 'KILLED') p.killed += r.files
  }
  return { scope: { user: user ?? null }, range, bucketMs, from, to, points }
}
