import Database from 'better-sqlite3'
import pino from 'pino'
import type { AgentContext } from '../src/agent/context.js'
import { CONCURRENT_BLOCKS, Publisher } from '../src/agent/publisher.js'
import { Agent } from '../src/agent/runner.js'
import type { Catalog, CatalogBlock } from '../src/catalog/catalog.js'
import { requestContext } from '../src/cli/app.js'
import { openCatalog } from '../src/cli/catalog.js'
import type { AsoConfig } from '../src/config/schema.js'
import { validateRequest } from '../src/domain/request.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { StorageRegistry } from '../src/storage/registry.js'
import { openStore } from '../src/store/open.js'
import type { InjectItem } from '../src/store/ops/inject.js'
import type { Store } from '../src/store/store.js'
import { RUCIO_ROOT, type RucioPeer, rucioPeerMissing, startRucioPeer } from '../test/support/rucio.js'
import { InstantEngine } from './support/instant-engine.js'
import { BATCH, benchConfig } from './support/pipeline-run.js'
import { type Figures, median } from './support/report.js'

const RSE = 'T2_BENCH_FILE'
const PER_BLOCK = 100
/** blocks in flight at once: the publisher's own */
const CONCURRENT = CONCURRENT_BLOCKS

/**
 * publication: files per second published into a real Rucio server (Rucio 41 on SQLite, the test peer)
 * through the publisher loop: a real SQLite store holding N DONE files with `publish: true` of one user and
 * dataset, `Publisher.run()` called until every file is PUBLISHED (blocks of 100 filled, closed, marked,
 * registered, recorded). Baseline, in the same run and on the same server: `RucioCatalog.publishBlock` called
 * directly on the same number of blocks of the same size, two at a time like the loop. That is the catalog
 * work the loop cannot avoid, REST call for REST call (RucioCatalog is what the loop calls): the ratio is the
 * cost of the loop's own bookkeeping (block membership marked before the call, history rows, results). Each
 * side publishes a fresh user's files (its own scope and names); the order alternates between runs.
 */
export async function benchPublication(opts: {
  log(line: string): void
  files?: number
  runs?: number
}): Promise<Figures> {
  const missing = rucioPeerMissing()
  if (missing) {
    opts.log(`  skipped: ${missing}`)
    return {}
  }
  const n = opts.files ?? 2000
  if (n % PER_BLOCK) throw new Error(`files must be a multiple of ${PER_BLOCK}`)
  const peer = await startRucioPeer()
  const loop: number[] = []
  const direct: number[] = []
  try {
    await peer.admin.addRse(RSE, {
      deterministic: false,
      protocols: [{ scheme: 'file', hostname: 'localhost', port: 0, prefix: '/' }],
    })
    for (let r = 0; r < (opts.runs ?? 3); r++) {
      // alternate, so that the server's growing database and machine noise hit both sides alike
      const sides = [
        async () => direct.push((await directRun(peer, `direct${r}`, n)).filesPerSecond),
        async () => loop.push((await loopRun(peer, `loop${r}`, n)).filesPerSecond),
      ]
      if (r % 2) sides.reverse()
      for (const side of sides) await side()
      opts.log(
        `  run ${r + 1}: loop ${loop.at(-1)!.toFixed(1)} files/s, direct publishBlock ${direct.at(-1)!.toFixed(1)} files/s`,
      )
    }
  } finally {
    await peer.stop()
  }
  return {
    'publication.loop.rucio': {
      value: median(loop),
      unit: 'files/s',
      baseline: median(direct),
      better: 'higher',
      note: `${n} files in blocks of ${PER_BLOCK}, real Rucio 41 (SQLite), median of ${loop.length}`,
    },
  }
}

async function newUser(peer: RucioPeer, user: string): Promise<void> {
  await peer.admin.addUser(user)
  await peer.admin.setLimit(user, RSE)
}

function catalogSection(peer: RucioPeer) {
  return {
    type: 'rucio',
    url: peer.url,
    auth: { type: 'userpass', ...RUCIO_ROOT },
    rses: { B: RSE },
    blockName: '{dataset}_{uuid}',
    maxFilesPerBlock: PER_BLOCK,
  }
}

const datasetOf = (user: string) => `/Bench/${user}-v1/USER`
const lfnOf = (user: string, j: number) => `/store/user/${user}/f${j}.root`
const adler32Of = (j: number) => (j + 1).toString(16).padStart(8, '0')

/** The loop: N DONE publishable files in a real store (made untimed), then Publisher.run() until all PUBLISHED. */
async function loopRun(peer: RucioPeer, user: string, n: number): Promise<{ filesPerSecond: number }> {
  await newUser(peer, user)
  const { config, cleanup } = await benchConfig({ catalog: catalogSection(peer) })
  const store = await openStore(config.database, {
    policy: { deleteSourceOnDone: false, tempRetention: 1e12 },
  })
  const sites = new SiteCatalog(config)
  try {
    await makeDone(config, store, sites, user, n)
    const catalog = openCatalog(config)!
    const ctx: AgentContext = {
      agentId: 'bench-publisher',
      config,
      store,
      sites,
      engines: new Map(),
      storage: new StorageRegistry(),
      catalog,
      log: pino({ level: 'warn' }),
      now: () => Date.now(),
      wake: () => {},
      busyJobs: new Set(),
    }
    const publisher = new Publisher(ctx)
    const t0 = performance.now()
    for (;;) {
      await publisher.run()
      const counts = await store.publicationCounts({ user })
      if (counts.FAILED > 0)
        throw new Error(`${counts.FAILED} publications FAILED: ${firstFailure(config.database)}`)
      if (counts.PUBLISHED === n) break
    }
    const seconds = (performance.now() - t0) / 1000
    await catalog.close()
    await expectBlocks(peer, user, n)
    return { filesPerSecond: n / seconds }
  } finally {
    await store.close()
    await cleanup()
  }
}

/** Injects N publishable files of `user` and runs them to DONE through the agent with an instant engine. */
async function makeDone(config: AsoConfig, store: Store, sites: SiteCatalog, user: string, n: number) {
  const ctx = requestContext(config, sites, { name: 'bench', role: 'admin', groups: null, vomsRoles: [] })
  const agent = new Agent({
    config,
    store,
    sites,
    engines: new Map([['local', new InstantEngine()]]),
    storage: new StorageRegistry(),
    log: pino({ level: 'warn' }),
  })
  await agent.start()
  for (let from = 0; from < n; from += BATCH) {
    const items: InjectItem[] = []
    for (let j = from; j < Math.min(n, from + BATCH); j++) {
      const v = validateRequest(
        {
          user,
          task: `task-${user}`,
          jobId: j,
          source: 'A',
          sourceLfn: `/store/temp/user/${user}.x/f${j}.root`,
          destination: 'B',
          destinationLfn: lfnOf(user, j),
          size: 1000 + j,
          checksums: { adler32: adler32Of(j) },
          publish: true,
          dataset: datasetOf(user),
        },
        ctx,
      )
      if (!v.ok) throw new Error(JSON.stringify(v.errors))
      items.push({ id: v.id, request: v.request })
    }
    await store.inject(items, { now: Date.now(), actor: 'bench', maxAttempts: 3 })
    agent.wake('submitter')
  }
  const done = async () =>
    (await store.counts()).filter((c) => c.state === 'DONE').reduce((a, c) => a + c.n, 0)
  while ((await done()) < n) await new Promise((r) => setTimeout(r, 20))
  // the agent had no catalog: its publisher idled, every file is DONE and PENDING publication
  await agent.stop()
}

/** The reason of the first FAILED publication, for the error message. */
function firstFailure(database: string): string {
  const db = new Database(database.slice('sqlite:'.length), { readonly: true })
  try {
    const r = db
      .prepare(`select publication_reason from transfers where publication_state = 'FAILED' limit 1`)
      .get() as { publication_reason: string } | undefined
    return r?.publication_reason ?? '(none)'
  } finally {
    db.close()
  }
}

/** The baseline: the same blocks' registrations by RucioCatalog.publishBlock directly, two at a time. */
async function directRun(peer: RucioPeer, user: string, n: number): Promise<{ filesPerSecond: number }> {
  await newUser(peer, user)
  const { config, cleanup, dir } = await benchConfig({ catalog: catalogSection(peer) })
  const dataset = datasetOf(user)
  const blocks: CatalogBlock[] = []
  for (let b = 0; b < n / PER_BLOCK; b++) {
    const files = Array.from({ length: PER_BLOCK }, (_, i) => {
      const j = b * PER_BLOCK + i
      const lfn = lfnOf(user, j)
      return { id: `f${j}`, lfn, bytes: 1000 + j, adler32: adler32Of(j), pfn: `file://${dir}/B${lfn}` }
    })
    blocks.push({
      scope: `user.${user}`,
      container: dataset,
      name: `${dataset}_${crypto.randomUUID()}`,
      rse: RSE,
      ruleAccount: user,
      files,
    })
  }
  const catalog: Catalog = openCatalog(config)!
  try {
    const queue = [...blocks]
    const t0 = performance.now()
    const worker = async () => {
      for (let b = queue.shift(); b; b = queue.shift()) {
        const r = await catalog.publishBlock(b)
        if (r.published.length !== b.files.length)
          throw new Error(`direct publishBlock: ${JSON.stringify(r.rejected.slice(0, 3))}`)
      }
    }
    await Promise.all(Array.from({ length: CONCURRENT }, worker))
    const seconds = (performance.now() - t0) / 1000
    await expectBlocks(peer, user, n)
    return { filesPerSecond: n / seconds }
  } finally {
    await catalog.close()
    await cleanup()
  }
}

/** Both sides did the same work: N/100 blocks of 100 files in the user's container, each closed. */
async function expectBlocks(peer: RucioPeer, user: string, n: number): Promise<void> {
  const scope = `user.${user}`
  const blocks = await peer.admin.content(scope, datasetOf(user))
  if (blocks.length !== n / PER_BLOCK)
    throw new Error(`${user}: ${blocks.length} blocks in Rucio, expected ${n / PER_BLOCK}`)
  const did = await peer.admin.did(scope, blocks[0]!.name)
  if (did.open || did.length !== PER_BLOCK) throw new Error(`${user}: block ${JSON.stringify(did)}`)
}
