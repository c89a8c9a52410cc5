/**
 * The API on a real socket for tests: the server of `aso serve` (HTTPS with client certificates, or plain
 * HTTP with --insecure-dev), with or without an in-process agent on the same store.
 */
import pino from 'pino'
import { ChangeSignal } from '../../src/api/change-signal.js'
import { type ApiServer, buildApiServer, startApiServer } from '../../src/api/server.js'
import { loadConfig } from '../../src/config/load.js'
import type { AsoConfig } from '../../src/config/schema.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { startTestAgent, type TestAgent } from './agent.js'

export interface TestApi {
  url: string
  server: ApiServer
  store: Store
  config: AsoConfig
  agent?: TestAgent
  close(): Promise<void>
}

/** Starts the API for a config file on 127.0.0.1:<free port>; `agent` also runs the agent loops in process. */
export async function startTestApi(
  configPath: string,
  opts: { insecureDev?: boolean; agent?: boolean; pollMs?: number } = {},
): Promise<TestApi> {
  const { config } = loadConfig({ path: configPath })
  const agent = opts.agent ? await startTestAgent(configPath) : undefined
  const store = agent?.store ?? (await openStore(config.database))
  const server = await startApiServer({
    config,
    store,
    sites: agent?.sites ?? new SiteCatalog(config),
    insecureDev: opts.insecureDev === true,
    listen: '127.0.0.1:0',
    changes: new ChangeSignal(),
    ...(agent ? { agent: agent.agent } : {}),
    ...(opts.pollMs !== undefined ? { pollMs: opts.pollMs } : {}),
    log: pino({ level: process.env.ASO_TEST_LOG ?? 'silent' }),
  })
  return {
    url: server.url,
    server,
    store,
    config,
    ...(agent ? { agent } : {}),
    async close() {
      await server.close()
      if (agent) await agent.stop()
      else await store.close()
    },
  }
}

/** The app without a socket, for `app.inject()` (insecure-dev: the caller is the X-ASO-User header). */
export async function buildTestApp(configPath: string) {
  const { config } = loadConfig({ path: configPath })
  const store = await openStore(config.database)
  const app = await buildApiServer({ config, store, sites: new SiteCatalog(config), insecureDev: true })
  await app.ready()
  const close = async () => {
    await app.close()
    await store.close()
  }
  return { app, store, config, close }
}
