import { Agent } from '../../agent/runner.js'
import { type GlobalOptions, makeLogger, openApp } from '../app.js'
import { buildEngines } from '../engines.js'

/** `aso serve`: runs the agent loops until SIGINT/SIGTERM, then shuts down gracefully. */
export async function serveCommand(opts: GlobalOptions & { logLevel?: string }) {
  const app = await openApp(opts)
  const log = makeLogger(opts.logLevel ?? (opts.debug ? 'debug' : 'info'))
  const { engines, storage } = buildEngines(app.config)
  const agent = new Agent({ config: app.config, store: app.store, sites: app.sites, engines, storage, log })
  await agent.start()
  log.info({ agent: agent.id, database: app.config.database.replace(/:[^:@/]*@/, ':***@') }, 'agent started')
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) {
        log.warn('second signal: exiting now')
        process.exit(130)
      }
      stopping = true
      log.info(
        { signal, grace: app.config.agent.shutdownGrace },
        'stopping: no new claims, letting running copies finish',
      )
      agent
        .stop()
        .catch((e) => log.error({ err: e }, 'error during shutdown'))
        .finally(resolve)
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  await app.close()
  log.info('stopped')
}
