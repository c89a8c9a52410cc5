/** `aso couch status`: the CouchDB bridge as the store knows it (docs/couchdb-bridge.md). */
import { CouchLink, couchLag } from '../../agent/couch-bridge.js'
import { AsoError } from '../../domain/errors.js'
import { type GlobalOptions, openApp } from '../app.js'
import { CliExit, EXIT } from '../exit.js'

function ago(ms: number | null, now: number): string {
  if (ms === null) return 'never'
  const s = Math.max(0, Math.round((now - ms) / 1000))
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}

/** Prints the feed's checkpoint and lag, the documents ingested, write-backs pending and conflicts; exit 1 when the feed lags. */
export async function couchStatusCommand(opts: GlobalOptions & { json?: boolean }) {
  const app = await openApp(opts)
  try {
    const cfg = app.config.ingest.couchdb
    if (!cfg) {
      throw new AsoError(
        'invalid-request',
        'no CouchDB database is followed: aso.yaml has no ingest.couchdb section (docs/couchdb-bridge.md)',
      )
    }
    const link = new CouchLink(cfg)
    const s = await app.store.couchStatus(link.name)
    const now = Date.now()
    const lag = s.feed ? couchLag(s.feed, now) : null
    const lagging = lag === null || lag * 1000 > cfg.lagWarning
    if (opts.json) {
      process.stdout.write(
        `${JSON.stringify({ database: link.name, lagSeconds: lag, lagging, ...s }, null, 2)}\n`,
      )
    } else {
      const f = s.feed
      const lines = [`CouchDB ${link.name}`]
      if (!f) lines.push('  feed:         not read yet (is an agent running with this aso.yaml?)')
      else {
        lines.push(
          `  feed:         checkpoint ${f.seq.length > 40 ? `${f.seq.slice(0, 37)}...` : f.seq}, read ${ago(f.readAt, now)}, at its head ${ago(f.caughtUpAt, now)}${lagging ? `  LAGGING (more than ${cfg.lagWarning / 1000} s)` : ''}`,
        )
        if (f.behind !== null) lines.push(`  behind:       ${f.behind} changes`)
        lines.push(
          `  documents:    ${s.documents} taken (${s.transfers} with a transfer), ${f.ingested} ingested, ${s.refused} refused, ${s.deleted} deleted since`,
          `  requests:     ${f.kills} kills, ${f.retries} resubmissions`,
          `  write-backs:  ${f.written} written, ${s.pending} pending, ${f.conflicts} conflicts (merged on the next round), ${f.forbidden} forbidden`,
        )
        if (f.lastError) lines.push(`  last error:   ${f.lastError}`)
      }
      for (const e of s.errors) lines.push(`  ${e.docId}: ${e.error}`)
      process.stdout.write(`${lines.join('\n')}\n`)
    }
    if (lagging) throw new CliExit(EXIT.someFailed)
  } finally {
    await app.close()
  }
}
