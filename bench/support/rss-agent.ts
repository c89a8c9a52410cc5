/**
 * Child process for the RSS figure: runs a real agent on the given database with an engine that never
 * finishes, for a few seconds of cycles, then prints its resident set size in MB.
 */
import pino from 'pino'
import { Agent } from '../../src/agent/runner.js'
import { parseConfig, resolvePaths } from '../../src/config/load.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { openStore } from '../../src/store/open.js'
import { StalledEngine } from './stalled-engine.js'

const [dbFile, seconds] = process.argv.slice(2)
const config = resolvePaths(
  parseConfig({
    database: `sqlite:${dbFile}`,
    sites: {
      A: { protocols: [{ scheme: 'file', prefix: '/nonexistent/A' }] },
      B: { protocols: [{ scheme: 'file', prefix: '/nonexistent/B' }] },
      C: { protocols: [{ scheme: 'file', prefix: '/nonexistent/C' }] },
    },
    agent: { submitInterval: '100ms', pollInterval: '500ms', retryInterval: '200ms', cleanInterval: '500ms' },
  }),
  '/',
)
const store = await openStore(config.database)
const agent = new Agent({
  config,
  store,
  sites: new SiteCatalog(config),
  engines: new Map([['local', new StalledEngine()]]),
  storage: new StorageRegistry(),
  log: pino({ level: 'warn' }),
})
await agent.start()
let peak = 0
const until = Date.now() + Number(seconds ?? 8) * 1000
while (Date.now() < until) {
  peak = Math.max(peak, process.memoryUsage().rss)
  await new Promise((r) => setTimeout(r, 100))
}
process.stdout.write(
  `${JSON.stringify({ rssMB: peak / 2 ** 20, inFlight: Object.fromEntries(await store.inFlightByLink()) })}\n`,
)
await agent.stop()
await store.close()
process.exit(0)
