import type { AsoConfig } from '../config/schema.js'
import { LocalEngine } from '../engines/local/engine.js'
import type { TransferEngine } from '../engines/types.js'
import { httpClients } from '../storage/http/http-client.js'
import { StorageRegistry } from '../storage/registry.js'
import { buildFts3Engine } from './fts3-engine.js'

/**
 * The engines a configuration asks for, and the storage clients the agent uses itself. `extras.store` lets the
 * fts3 engine find the owners of jobs it did not submit itself (after a restart); `extras.log` gets its notes.
 */
export function buildEngines(
  config: AsoConfig,
  extras: Parameters<typeof buildFts3Engine>[1] = {},
): {
  engines: Map<string, TransferEngine>
  storage: StorageRegistry
} {
  // HTTPS storage is trusted with its site's CA directory (`caDir`), else X509_CERT_DIR
  httpClients.trustSites(config.sites)
  const storage = new StorageRegistry()
  const local = new LocalEngine({
    maxConcurrent: config.local.maxConcurrent,
    copyTimeoutMs: config.local.copyTimeout,
    batchSize: config.local.xrootParallel,
    storage,
  })
  const engines = new Map<string, TransferEngine>([['local', local]])
  const fts3 = buildFts3Engine(config, { storage, ...extras })
  if (fts3) engines.set('fts3', fts3)
  return { engines, storage }
}
