import pino from 'pino'
import { Agent } from '../../src/agent/runner.js'
import { requestContext } from '../../src/cli/app.js'
import { openCatalog } from '../../src/cli/catalog.js'
import { buildEngines } from '../../src/cli/engines.js'
import { loadConfig } from '../../src/config/load.js'
import type { AsoConfig } from '../../src/config/schema.js'
import { validateRequest } from '../../src/domain/request.js'
import { TERMINAL_STATES, type TransferState } from '../../src/domain/states.js'
import type { TransferEngine } from '../../src/engines/types.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { openStore } from '../../src/store/open.js'
import type { InjectResult } from '../../src/store/ops/inject.js'
import type { Store } from '../../src/store/store.js'

export interface TestAgent {
  agent: Agent
  store: Store
  sites: SiteCatalog
  config: AsoConfig
  engines: Map<string, TransferEngine>
  /** validates and stores requests as an admin would */
  inject(requests: Record<string, unknown>[]): Promise<InjectResult[]>
  /** waits until no record is outside the given states (default: terminal) */
  waitUntilSettled(timeoutMs?: number, states?: readonly TransferState[]): Promise<void>
  waitFor(check: () => Promise<boolean>, timeoutMs?: number, what?: string): Promise<void>
  stop(): Promise<void>
}

/** An in-process agent on a config file, with the real store, engines and loops. */
export async function startTestAgent(
  configPath: string,
  opts: { start?: boolean; store?: Store } = {},
): Promise<TestAgent> {
  const { config } = loadConfig({ path: configPath })
  const store =
    opts.store ??
    (await openStore(config.database, {
      policy: {
        deleteSourceOnDone: config.cleanup.deleteSourceOnDone,
        tempRetention: config.cleanup.tempRetention,
      },
    }))
  const sites = new SiteCatalog(config)
  const { engines, storage } = buildEngines(config, { store })
  const agent = new Agent({
    config,
    store,
    sites,
    engines,
    storage,
    catalog: openCatalog(config),
    log: pino({ level: process.env.ASO_TEST_LOG ?? 'silent' }),
  })
  if (opts.start !== false) await agent.start()
  const waitFor = async (check: () => Promise<boolean>, timeoutMs = 30_000, what = 'condition') => {
    const until = Date.now() + timeoutMs
    while (!(await check())) {
      if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }
  let stopped = false
  return {
    agent,
    store,
    sites,
    config,
    engines,
    async inject(requests) {
      const ctx = requestContext(config, sites, { name: 'test', role: 'admin', groups: null, vomsRoles: [] })
      const items = requests.map((r) => {
        const v = validateRequest(r, ctx)
        if (!v.ok) throw new Error(`invalid test request: ${JSON.stringify(v.errors)}`)
        return { id: v.id, request: v.request }
      })
      const results = await store.inject(items, {
        now: Date.now(),
        actor: 'test',
        maxAttempts: config.retry.maxAttempts,
      })
      agent.wake('submitter')
      return results
    },
    waitFor,
    async waitUntilSettled(timeoutMs = 30_000, states = TERMINAL_STATES) {
      await waitFor(
        async () => (await store.counts()).every((c) => states.includes(c.state) || c.n === 0),
        timeoutMs,
        `every transfer in ${states.join('/')}`,
      )
    },
    async stop() {
      if (stopped) return
      stopped = true
      await agent.stop()
      await store.close()
    },
  }
}
