import { type BackendOptions, openBackend } from '../backend.js'
import { bytes, type Column, fitLines, iso, table } from '../format.js'

/** The reason wraps, or goes under its row on a narrow terminal: the rest is short and never cut. */
const TIMELINE: Column[] = [
  { head: 'at', fit: 'keep' },
  { head: 'from', fit: 'keep' },
  { head: 'to', fit: 'keep' },
  { head: 'attempt', fit: 'keep' },
  { head: 'engine job', fit: 'keep' },
  { head: 'reason', fit: 'below' },
]

/** `aso explain ID`: the record, its timeline, and why it is where it is. */
export async function explainCommand(id: string, opts: BackendOptions & { json?: boolean }) {
  const backend = await openBackend(opts)
  try {
    const e = await backend.explain(id)
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(e, null, 2)}\n`)
      return
    }
    const r = e.record
    process.stdout.write(
      fitLines([
        `${r.id}  ${r.state}${r.failureClass ? ` (${r.failureClass})` : ''}`,
        `  ${r.user}${r.group ? `/${r.group}` : ''}  task ${r.task}  job ${r.jobId}.${r.jobRetry}`,
        `  ${r.source}:${r.sourceLfn}`,
        `  -> ${r.destination}:${r.destinationLfn}`,
        `  ${bytes(r.size)}  adler32 ${r.checksums.adler32}  priority ${r.priority}  attempt ${r.attempt}/${r.maxAttempts}`,
        '',
        `why: ${e.why}`,
        ...(e.hint ? [`hint: ${e.hint}`] : []),
        ...(e.hold
          ? [`hold: ${e.hold.class} since ${iso(e.hold.since)}, looked at again ${iso(e.hold.until)}`]
          : []),
        ...(e.publication ? [`publication: ${e.publication.why}`] : []),
        '',
        '',
      ]),
    )
    process.stdout.write(
      `${table(
        TIMELINE,
        e.timeline.map((t) => [
          iso(t.at),
          t.from ?? '-',
          t.to,
          t.attempt,
          t.engineJobId?.slice(0, 13) ?? '-',
          t.reason,
        ]),
      )}\n`,
    )
  } finally {
    await backend.close()
  }
}
