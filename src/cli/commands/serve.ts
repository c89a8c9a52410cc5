import { watchEndings } from '../../agent/metrics.js'
import { Agent } from '../../agent/runner.js'
import { ChangeSignal } from '../../api/change-signal.js'
import type { ApiServer } from '../../api/server.js'
import { AsoError } from '../../domain/errors.js'
import { type GlobalOptions, makeLogger, openApp } from '../app.js'
import { openCatalog } from '../catalog.js'
import { buildEngines } from '../engines.js'
import { onStopSignal } from '../stop-signals.js'

export interface ServeOptions extends GlobalOptions {
  logLevel?: string
  /** HOST:PORT of the API (over api.listen) */
  listen?: string
  apiOnly?: boolean
  agentOnly?: boolean
  insecureDev?: boolean
}

/**
 * `aso serve`: the agent loops and the HTTP API in one process (or one of them with --agent-only /
 * --api-only) until SIGINT/SIGTERM, then a graceful shutdown. The API starts when api.tls is configured, or
 * with --insecure-dev, --listen or --api-only.
 */
export async function serveCommand(opts: ServeOptions) {
  if (opts.apiOnly && opts.agentOnly)
    throw new AsoError('usage', '--api-only and --agent-only exclude each other')
  const log = makeLogger(opts.logLevel ?? (opts.debug ? 'debug' : 'info'))
  // listening before anything starts: a SIGTERM while the agent opens the store or takes over a dead agent's
  // jobs must stop it gracefully once started, not kill it in the middle (the default action)
  const stopRequested = stopSignals(log)
  // the store reports lost and restored database connections in the agent's log
  const app = await openApp(opts, { log })
  const wantApi =
    !opts.agentOnly &&
    (opts.apiOnly || opts.insecureDev || opts.listen !== undefined || app.config.api.tls !== undefined)
  const changes = new ChangeSignal()
  // files this process ends (an API replica's kills too) are counted per link and logged, once each
  watchEndings(app.store, log)
  let agent: Agent | undefined
  let api: ApiServer | undefined
  try {
    // loaded only when needed: Fastify, OpenAPI and prom-client would slow every other command's start
    const server = wantApi ? await import('../../api/server.js') : undefined
    // a bad --listen is refused before the agent starts
    server?.checkListen(opts.listen ?? app.config.api.listen, opts.insecureDev === true)
    if (!opts.apiOnly) {
      const { engines, storage } = buildEngines(app.config, {
        store: app.store,
        log: log.child({ engine: 'fts3' }),
      })
      agent = new Agent({
        config: app.config,
        store: app.store,
        sites: app.sites,
        engines,
        storage,
        catalog: openCatalog(app.config),
        log,
        // event streams and long-polls of this process hear of outcomes at once
        onProgress: () => changes.notify(),
      })
      await agent.start()
      log.info(
        { agent: agent.id, database: app.config.database.replace(/:[^:@/]*@/, ':***@') },
        'agent started',
      )
    }
    if (server) {
      api = await server.startApiServer({
        config: app.config,
        store: app.store,
        sites: app.sites,
        insecureDev: opts.insecureDev === true,
        ...(opts.listen !== undefined ? { listen: opts.listen } : {}),
        ...(agent ? { agent } : {}),
        changes,
        log,
      })
      log.info(
        { url: api.url, openapi: `${api.url}/api/openapi.json`, insecureDev: opts.insecureDev === true },
        'API listening',
      )
    } else if (!opts.agentOnly) {
      log.info(
        'API not started: configure api.tls in aso.yaml, or run aso serve --insecure-dev for a trial on this machine',
      )
    }
  } catch (e) {
    await agent?.stop()
    await app.close()
    throw e
  }
  const signal = await stopRequested
  log.info(
    { signal, grace: app.config.agent.shutdownGrace },
    'stopping: no new claims, letting running copies finish',
  )
  try {
    // the API first: no new work arrives while the agent winds down
    await api?.close()
    await agent?.stop()
  } catch (e) {
    log.error({ err: e }, 'error during shutdown')
    process.exitCode = 1
  }
  await app.close()
  log.info('stopped')
}

/**
 * Resolves with the first SIGINT or SIGTERM, including one that came while the CLI was still loading (held by
 * stop-signals.ts); a second one exits at once (130).
 */
function stopSignals(log: ReturnType<typeof makeLogger>): Promise<string> {
  return new Promise((resolve) => {
    let received = false
    onStopSignal((signal) => {
      if (received) {
        log.warn('second signal: exiting now')
        process.exit(130)
      }
      received = true
      resolve(signal)
    })
  })
}
