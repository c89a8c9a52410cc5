import type { AsoConfig } from '../config/schema.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { Store } from '../store/store.js'
import type { ChangeSignal } from './change-signal.js'

/** What an agent running in the same process offers the API (`aso serve` without --api-only). */
export interface AgentHandle {
  /** asks a loop to run now, e.g. the submitter after an injection */
  wake(loop: string): void
  loopStatus(): Record<string, { lastRunAt: number; lastError: string | null }>
  /** whether it holds the leader lease now (runs the singleton loops) */
  isLeader?(): boolean
  /** whether its loops run: started, neither stopped nor fenced */
  isRunning?(): boolean
}

/** What every route plugin shares. */
export interface ApiContext {
  config: AsoConfig
  store: Store
  sites: SiteCatalog
  /** wakes event streams and long-polls after a change in this process */
  changes: ChangeSignal
  agent?: AgentHandle
  /** how often event streams and long-polls look at the store when nothing wakes them */
  pollMs: number
  /** the clock of the dashboard's time windows (a benchmark fixes it at its data's end) */
  now: () => number
}
