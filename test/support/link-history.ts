/**
 * Replays the history of a PostgreSQL store in commit order (the test server runs with track_commit_timestamp)
 * to find the most files each link ever had in flight at once: the link limit must hold across all agents.
 */
import pg from 'pg'
import { IN_FLIGHT_STATES } from '../../src/domain/states.js'

export interface LinkReplay {
  /** link "SRC->DST" → most files in flight at once after any commit */
  peaks: Map<string, number>
  transactions: number
  events: number
}

const inFlight = new Set<string>(IN_FLIGHT_STATES)

/**
 * Each transaction's events change the in-flight count of their links; transactions are applied whole, in the
 * order of their commit timestamps (ties: the one adding files first, so a tie can only raise the peak).
 */
export async function replayLinks(url: string): Promise<LinkReplay> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{
      xid: string
      ts: string
      source: string
      destination: string
      from_state: string | null
      to_state: string
    }>(`
      select e.xid::text as xid,
             (extract(epoch from pg_xact_commit_timestamp(xid(e.xid))) * 1000000)::bigint::text as ts,
             t.source, t.destination, e.from_state, e.to_state
      from events e join transfers t on t.seq = e.transfer_seq`)
    const txs = new Map<string, { ts: number; deltas: Map<string, number>; net: number }>()
    for (const r of rows) {
      if (r.ts === null)
        throw new Error('commit timestamps are off: start PostgreSQL with track_commit_timestamp')
      const d =
        (inFlight.has(r.to_state) ? 1 : 0) - (r.from_state !== null && inFlight.has(r.from_state) ? 1 : 0)
      if (d === 0) continue
      const tx = txs.get(r.xid) ?? { ts: Number(r.ts), deltas: new Map<string, number>(), net: 0 }
      const link = `${r.source}->${r.destination}`
      tx.deltas.set(link, (tx.deltas.get(link) ?? 0) + d)
      tx.net += d
      txs.set(r.xid, tx)
    }
    const ordered = [...txs.values()].sort((a, b) => a.ts - b.ts || b.net - a.net)
    const now = new Map<string, number>()
    const peaks = new Map<string, number>()
    for (const tx of ordered) {
      for (const [link, d] of tx.deltas) {
        const n = (now.get(link) ?? 0) + d
        now.set(link, n)
        if (n > (peaks.get(link) ?? 0)) peaks.set(link, n)
      }
    }
    return { peaks, transactions: ordered.length, events: rows.length }
  } finally {
    await client.end()
  }
}
