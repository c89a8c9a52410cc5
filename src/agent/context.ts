import type { Logger } from 'pino'
import type { Catalog } from '../catalog/catalog.js'
import type { AsoConfig } from '../config/schema.js'
import type { TransferEngine } from '../engines/types.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { StorageRegistry } from '../storage/registry.js'
import type { Store } from '../store/store.js'

/** Everything the loops share: they share nothing else (ARCHITECTURE.md section 1). */
export interface AgentContext {
  agentId: string
  config: AsoConfig
  store: Store
  sites: SiteCatalog
  /** engines by name ("local", "fts3") */
  engines: Map<string, TransferEngine>
  /** storage operations the agent runs itself (source clean-up, removing killed attempts) */
  storage: StorageRegistry
  /** where delivered outputs are published (aso.yaml catalog:); none: the publisher idles */
  catalog?: Catalog
  log: Logger
  now(): number
  /** asks a loop to run as soon as possible (e.g. the submitter after an injection) */
  wake(loop: string): void
  /**
   * engine jobs this agent is handing to an engine right now (submit or resubmit in flight): the poller and
   * the reaper leave them alone, so nobody declares a job lost while its submit call is still running
   */
  busyJobs: Set<string>
}

/** The context of a loop that uses only the store methods `K`: what it may touch of the store is in its type. */
export type LoopContext<K extends keyof Store> = Omit<AgentContext, 'store'> & { store: Pick<Store, K> }
