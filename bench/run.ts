import { benchAdaptive } from './adaptive.js'
import { benchCopy } from './copy.js'
import { benchCouch } from './couch.js'
import { benchDashboard } from './dashboard.js'
import { benchFts3 } from './fts3.js'
import { benchHostileBodies } from './hostile-bodies.js'
import { benchInject } from './inject.js'
import { benchPipeline } from './pipeline.js'
import { benchPostgres } from './postgres.js'
import { benchPublication } from './publication.js'
import { benchScale } from './scale.js'
import { type Figures, formatFigure, saveResults } from './support/report.js'
import { benchWait } from './wait.js'

type Bench = (opts: { log(line: string): void; full: boolean }) => Promise<Figures>

/** Every benchmark by name, in the order `npm run bench` runs them. */
const BENCHES: Record<string, Bench> = {
  pipeline: (o) => benchPipeline(o),
  scale: (o) => benchScale(o),
  copy: (o) => benchCopy(o),
  postgres: (o) => benchPostgres({ log: o.log, files: o.full ? 20_000 : 5_000 }),
  // the pipeline again through the FTS3 double over HTTP, and the STOMP delivery delay
  fts3: (o) => benchFts3({ log: o.log }),
  // the dashboard's API calls at 1M records against 10k
  dashboard: (o) => benchDashboard({ log: o.log }),
  // files/s accepted by POST /transfers (1,000 per call) and by aso inject, against store.inject
  inject: (o) => benchInject({ log: o.log }),
  // last file terminal -> aso wait exit, against a bare start of the same CLI
  wait: (o) => benchWait({ log: o.log }),
  // the API's event-loop delay while oversized, many-key and deep bodies arrive, against ordinary requests
  hostile: (o) => benchHostileBodies({ log: o.log }),
  // files/s published into a real Rucio through the publisher loop, against publishBlock called directly
  publication: (o) => benchPublication({ log: o.log }),
  // documents/s the CouchDB bridge ingests from _changes, against a plain read of the same feed
  couch: (o) => benchCouch({ log: o.log, docs: o.full ? 20_000 : 5_000 }),
  // files/s over a tc-throttled link between two XRootD servers: the adaptive limit against a fixed maxActive
  adaptive: (o) => benchAdaptive({ log: o.log, seconds: o.full ? 300 : 120 }),
}

async function main() {
  const args = process.argv.slice(2)
  const full = args.includes('--full')
  const names = args.filter((a) => !a.startsWith('--'))
  const unknown = names.filter((n) => !(n in BENCHES))
  if (unknown.length) {
    process.stderr.write(
      `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`,
    )
    process.exit(3)
  }
  for (const name of names.length ? names : Object.keys(BENCHES)) {
    const log = (line: string) => process.stdout.write(`${line}\n`)
    log(`# ${name}`)
    const figures = await BENCHES[name]!({ log, full })
    for (const [k, f] of Object.entries(figures)) log(formatFigure(k, f))
    // a benchmark that could not run here (it said why) leaves no empty result behind
    if (Object.keys(figures).length) log(`  saved ${saveResults(name, figures)}`)
  }
}

await main()
