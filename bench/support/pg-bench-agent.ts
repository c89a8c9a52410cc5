/**
 * One agent process for bench/postgres.ts: the real loops and store on the database of the given config, with
 * the instant engine. Prints `ready` once started; stops gracefully on SIGTERM.
 *   node --import tsx bench/support/pg-bench-agent.ts '<config JSON>'
 */
import pino from 'pino'
import { Agent } from '../../src/agent/runner.js'
import { parseConfig } from '../../src/config/load.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { openStore } from '../../src/store/open.js'
import { InstantEngine } from './instant-engine.js'

const config = parseConfig(JSON.parse(process.argv[2] ?? '{}'))
const store = await openStore(config.database, {
  policy: { deleteSourceOnDone: false, tempRetention: 1e12 },
  migrate: false,
})
const agent = new Agent({
  config,
  store,
  sites: new SiteCatalog(config),
  engines: new Map([['local', new InstantEngine()]]),
  storage: new StorageRegistry(),
  log: pino({ level: 'warn' }),
})
await agent.start()
process.stdout.write('ready\n')
process.once('SIGTERM', () => {
  void agent
    .stop()
    .then(() => store.close())
    .then(() => process.exit(0))
})
