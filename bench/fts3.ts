/**
 * fts3: (a) files per second from inject to DONE through the fts3 engine and the FTS3 double over HTTP on
 * loopback, with copies the double completes at once (in-memory mock://), so the figure is ASO's and HTTP's
 * cost; baseline: the same pipeline with the instant in-process engine. (b) how long after FTS ends a transfer
 * the file is DONE in the store when only completion messages (STOMP, a real ActiveMQ) bring the news:
 * polling every 10 minutes; p50 and p95.
 *   npm run bench -- fts3
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { startFts3Sim } from '../packages/fts3-sim/src/server.js'
import { Agent } from '../src/agent/runner.js'
import { Fts3Engine, type Fts3EngineOptions } from '../src/engines/fts3/engine.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { StorageRegistry } from '../src/storage/registry.js'
import { openStore } from '../src/store/open.js'
import { MockStorage } from '../test/support/mock-storage.js'
import { makeTestPki } from '../test/support/pki.js'
import { startStompBroker } from '../test/support/stomp-broker.js'
import { InstantEngine } from './support/instant-engine.js'
import { agentPipeline, BATCH, benchConfig, benchItems } from './support/pipeline-run.js'

type Figures = Record<string, { value: number; unit: string; baseline?: number }>

const HOUR = 3600_000
const SITES = {
  A: { protocols: [{ scheme: 'mock', prefix: 'mock://a.bench' }] },
  B: { protocols: [{ scheme: 'mock', prefix: 'mock://b.bench' }] },
}

/** The sources of bench items `from`..`to` (benchItems' names, sizes and checksums) in mock storage. */
function stage(mock: MockStorage, from: number, to: number): void {
  for (let j = from; j < to; j++) {
    const u = `user${j % 10}`
    mock.put(
      `mock://a.bench/store/temp/user/${u}.x/f${j}.root`,
      1000 + j,
      (j + 1).toString(16).padStart(8, '0'),
    )
  }
}

function engineOptions(
  url: string,
  proxyPath: string,
  extra: Partial<Fts3EngineOptions> = {},
): Fts3EngineOptions {
  return {
    servers: [{ url, links: ['*->*'] }],
    instance: 'bench',
    proxyPath,
    maxFilesPerJob: 100,
    maxTimeInQueueMs: 4 * HOUR,
    overwrite: false,
    verifyChecksum: 'both',
    delegation: { lifetimeMs: 48 * HOUR, renewBelowMs: 24 * HOUR },
    minProxyLifetimeMs: 2 * HOUR,
    timeoutMs: 30_000,
    ...extra,
  }
}

const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? Number.NaN

export async function benchFts3(opts: { log(line: string): void; files?: number }): Promise<Figures> {
  const n = opts.files ?? 5000
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-bench-fts3-'))
  const pki = await makeTestPki(path.join(dir, 'pki'))
  const user = await pki.userCert('bench')
  // one proxy for every bench user: the double in insecure mode takes every caller for this DN
  const proxy = await pki.proxy(user, { hours: 12 })
  const figures: Figures = {}
  try {
    // (a) throughput over HTTP, polling 4 times a second, against the instant in-process engine
    const mock = new MockStorage()
    stage(mock, 0, n)
    const sim = await startFts3Sim({
      insecureDn: user.dn,
      methods: [mock.method],
      storage: mock.registry(),
      maxActive: BATCH,
      schedulerIntervalMs: 20,
    })
    const agentCfg = { submitInterval: '50ms', batchSize: BATCH, pollInterval: '250ms' }
    let fts: { filesPerSecond: number; seconds: number }
    try {
      fts = await agentPipeline(n, () => new Fts3Engine(engineOptions(sim.url, proxy.path)), {
        sites: SITES,
        agent: agentCfg,
      })
    } finally {
      await sim.close()
    }
    const instant = await agentPipeline(n, () => new InstantEngine(), { sites: SITES, agent: agentCfg })
    opts.log(
      `  ${n} files: via the FTS3 double ${fts.seconds.toFixed(1)} s, instant engine ${instant.seconds.toFixed(1)} s`,
    )
    figures['fts3.pipeline.http'] = {
      value: fts.filesPerSecond,
      unit: 'files/s',
      baseline: instant.filesPerSecond,
    }

    // (b) completion messages: transfer end at the double -> DONE in the store, polling every 10 minutes
    const delays = await stompDelays(Math.min(n, 1000), proxy.path, user.dn)
    opts.log(`  ${delays.length} files DONE by messages alone`)
    figures['fts3.stomp.delay.p50'] = { value: quantile(delays, 0.5), unit: 'ms' }
    figures['fts3.stomp.delay.p95'] = { value: quantile(delays, 0.95), unit: 'ms' }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return figures
}

/** Runs `n` files with a broker and polling at 10 minutes; the delay of each file's DONE after its transfer. */
async function stompDelays(n: number, proxyPath: string, dn: string): Promise<number[]> {
  const broker = await startStompBroker()
  const mock = new MockStorage()
  stage(mock, 0, n)
  const sim = await startFts3Sim({
    insecureDn: dn,
    methods: [mock.method],
    storage: mock.registry(),
    maxActive: 50,
    schedulerIntervalMs: 20,
    stomp: { url: broker.stompUrl },
  })
  const { config, cleanup } = await benchConfig({
    sites: SITES,
    agent: { submitInterval: '50ms', batchSize: BATCH, pollInterval: '10m' },
  })
  const store = await openStore(config.database, {
    policy: { deleteSourceOnDone: false, tempRetention: 1e12 },
  })
  const engine = new Fts3Engine(
    engineOptions(sim.url, proxyPath, {
      stomp: { url: broker.stompUrl, topic: 'transfer.fts_monitoring_complete' },
    }),
  )
  const agent = new Agent({
    config,
    store,
    sites: new SiteCatalog(config),
    engines: new Map([['local', engine]]),
    storage: new StorageRegistry(),
    log: pino({ level: 'warn' }),
  })
  try {
    await agent.start()
    const items = benchItems(config, 0, n)
    await store.inject(items, { now: Date.now(), actor: 'bench', maxAttempts: 3 })
    agent.wake('submitter')
    const deadline = Date.now() + 120_000
    const ids = items.map((i) => i.id)
    for (;;) {
      const done = (await store.getMany(ids)).filter((t) => t.state === 'DONE')
      if (done.length === n) {
        const endAt = new Map<string, number>()
        for (const j of sim.jobs()) {
          for (const f of j.files) {
            const at = f.attempts.at(-1)?.finishedAt
            if (at) endAt.set((f.fileMetadata as { transfer: string }).transfer, at.getTime())
          }
        }
        return done.map((t) => t.finishedAt! - endAt.get(t.id)!)
      }
      if (Date.now() > deadline)
        throw new Error(`only ${done.length} of ${n} files DONE by messages in 2 minutes`)
      await new Promise((r) => setTimeout(r, 50))
    }
  } finally {
    await agent.stop()
    await store.close()
    await sim.close()
    await broker.stop()
    await cleanup()
  }
}
