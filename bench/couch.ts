import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import type { AgentContext } from '../src/agent/context.js'
import { CouchIngest, CouchLink } from '../src/agent/couch-bridge.js'
import { parseConfig } from '../src/config/load.js'
import { CouchClient } from '../src/ingest/couchdb/client.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { openStore } from '../src/store/open.js'
import { postJobDocument } from '../test/support/couch-postjob.js'
import { startCouch } from '../test/support/couchdb.js'
import { testBytes } from '../test/support/file-sites.js'
import { type Figures, median } from './support/report.js'

const DB = 'asynctransfer'
const BATCH = 500

/**
 * couch: documents per second the CouchDB bridge ingests from `_changes` (validation, inject into the store, its
 * rows and checkpoint), against a plain read of the same feed with the same client and batch size. The peer is
 * pouchdb-server on loopback; the documents are the original post-job step's.
 */
export async function benchCouch(opts: {
  log(line: string): void
  docs?: number
  runs?: number
}): Promise<Figures> {
  const n = opts.docs ?? 5_000
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-bench-couch-'))
  const couch = await startCouch({ dir: path.join(dir, 'couch') })
  try {
    await couch.createDb(DB)
    const data = testBytes(1_000)
    for (let i = 0; i < n; i += BATCH) {
      const docs = await Promise.all(
        Array.from({ length: Math.min(BATCH, n - i) }, (_, k) =>
          postJobDocument({
            user: (i + k) % 2 ? 'alice' : 'bob',
            // a task belongs to one user
            workflow: `261208_00000${(i + k) % 5}:${(i + k) % 2 ? 'alice' : 'bob'}_crab_bench`,
            jobid: i + k + 1,
            jobRetry: 0,
            name: `out_${i + k + 1}.root`,
            source: 'SITE_A',
            destination: 'SITE_B',
            data,
          }),
        ),
      )
      const r = await couch.call('POST', `/${DB}/_bulk_docs`, { docs })
      if (r.status !== 201) throw new Error(`_bulk_docs: ${r.status}`)
    }
    const plain: number[] = []
    const ours: number[] = []
    for (let run = 0; run < (opts.runs ?? 3); run++) {
      plain.push(await plainRead(couch.url, n))
      ours.push(await ingest(couch.url, n, path.join(dir, `run-${run}`)))
      opts.log(
        `  run ${run + 1}: bridge ${ours.at(-1)!.toFixed(0)} docs/s, plain read ${plain.at(-1)!.toFixed(0)} docs/s`,
      )
    }
    return {
      'couch.ingest': {
        value: median(ours),
        unit: 'docs/s',
        baseline: median(plain),
        better: 'higher',
        note: `${n} documents, _changes batches of ${BATCH} with include_docs, SQLite store, pouchdb-server; median of ${ours.length}`,
      },
    }
  } finally {
    await couch.destroy()
    await rm(dir, { recursive: true, force: true })
  }
}

/** The feed read from the start to its end, documents included, nothing done with them. */
async function plainRead(url: string, n: number): Promise<number> {
  const client = new CouchClient({ url, database: DB, timeoutMs: 60_000 })
  const t0 = performance.now()
  let since = '0'
  let seen = 0
  while (seen < n) {
    const page = await client.changes({
      since,
      limit: BATCH,
      feed: 'longpoll',
      waitMs: 1_000,
      heartbeatMs: 500,
    })
    seen += page.results.filter((c) => c.doc !== null).length
    since = page.lastSeq
  }
  const s = (performance.now() - t0) / 1000
  await client.close()
  return n / s
}

/** The bridge's ingest loop, run back to back on a fresh store until every document is taken. */
async function ingest(url: string, n: number, dir: string): Promise<number> {
  const config = parseConfig(
    {
      database: `sqlite:${path.join(dir, 'aso.db')}`,
      sites: {
        SITE_A: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'A') }] },
        SITE_B: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'B') }] },
      },
      users: { alice: {}, bob: {} },
      ingest: { couchdb: { url, database: DB, batchSize: BATCH, pollTimeout: '1s' } },
    },
    'bench',
  )
  const store = await openStore(config.database)
  const link = new CouchLink(config.ingest.couchdb!)
  const ctx: AgentContext = {
    agentId: 'bench',
    config,
    store,
    sites: new SiteCatalog(config),
    engines: new Map(),
    storage: undefined as never,
    log: pino({ level: 'silent' }),
    now: () => Date.now(),
    wake: () => {},
    busyJobs: new Set(),
  }
  const loop = new CouchIngest(ctx, link)
  const t0 = performance.now()
  while ((await store.couchStatus(link.name)).documents < n) await loop.run()
  const s = (performance.now() - t0) / 1000
  const taken = (await store.couchStatus(link.name)).feed?.ingested
  if (taken !== n) throw new Error(`the bridge ingested ${taken} of ${n} documents`)
  await link.close()
  await store.close()
  return n / s
}
