import type { AsoConfig } from '../config/schema.js'
import { AsoError } from '../domain/errors.js'
import { type EngineLog, Fts3Engine } from '../engines/fts3/engine.js'
import type { StorageRegistry } from '../storage/registry.js'
import type { Store } from '../store/store.js'

/** Whether the configuration sends any link to FTS. */
export function usesFts3(config: AsoConfig): boolean {
  return config.engine === 'fts3' || Object.values(config.links).some((l) => l.engine === 'fts3')
}

/**
 * The `fts3` engine from `fts3:` in aso.yaml; undefined when no section is configured. With a store, jobs this
 * agent did not submit itself (after a restart) are polled and cancelled with their owner's credential.
 */
export function buildFts3Engine(
  config: AsoConfig,
  extras: { store?: Store; storage?: StorageRegistry; log?: EngineLog } = {},
): Fts3Engine | undefined {
  const f = config.fts3
  if (!f) {
    if (usesFts3(config)) {
      throw new AsoError(
        'invalid-config',
        'links go to the fts3 engine but aso.yaml has no fts3: section: add fts3.servers (and proxyPath)',
      )
    }
    return undefined
  }
  const { store } = extras
  return new Fts3Engine({
    servers: f.servers,
    instance: config.instance,
    proxyPath: f.proxyPath,
    ...(f.tokenPath ? { tokenPath: f.tokenPath } : {}),
    caDir: f.caDir,
    maxFilesPerJob: f.maxFilesPerJob,
    maxTimeInQueueMs: f.maxTimeInQueue,
    overwrite: f.overwrite,
    verifyChecksum: f.verifyChecksum,
    ...(f.priority ? { priority: f.priority } : {}),
    delegation: { lifetimeMs: f.delegation.lifetime, renewBelowMs: f.delegation.renewBelow },
    minProxyLifetimeMs: f.minProxyLifetime,
    timeoutMs: f.timeout,
    ...(f.stomp ? { stomp: f.stomp } : {}),
    ...(store
      ? {
          async lookupJob(jobId: string) {
            const [t] = await store.engineJobMembers(jobId)
            return (
              t && {
                user: t.user,
                group: t.group,
                role: t.role,
                source: t.source,
                destination: t.destination,
              }
            )
          },
        }
      : {}),
    ...(extras.storage ? { storage: extras.storage } : {}),
    ...(extras.log ? { log: extras.log } : {}),
  })
}
