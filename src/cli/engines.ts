import type { AsoConfig } from '../config/schema.js'
import { LocalEngine } from '../engines/local/engine.js'
import { StorageRegistry } from '../engines/local/storage.js'
import type { TransferEngine } from '../engines/types.js'

/** The engines a configuration asks for, and the storage clients the agent uses itself. */
export function buildEngines(config: AsoConfig): {
  engines: Map<string, TransferEngine>
  storage: StorageRegistry
} {
  const storage = new StorageRegistry()
  const local = new LocalEngine({
    maxConcurrent: config.local.maxConcurrent,
    copyTimeoutMs: config.local.copyTimeout,
    batchSize: config.local.xrootParallel,
    storage,
  })
  return { engines: new Map<string, TransferEngine>([['local', local]]), storage }
}
