import type { AsoConfig } from '../config/schema.js'
import { formatDuration } from '../domain/duration.js'
import type { Store } from '../store/store.js'

/**
 * Null while some agent is alive (a heartbeat within the lease); otherwise what a waiting file's explanation
 * must say instead of promising the next step: nothing moves until an agent runs.
 */
export async function noAgentNote(store: Store, config: AsoConfig, now: number): Promise<string | null> {
  const agents = await store.agents()
  if (agents.some((a) => a.heartbeatAt >= now - config.agent.lease)) return null
  const last = Math.max(0, ...agents.map((a) => a.heartbeatAt))
  const since = last > 0 ? `the last heartbeat was ${formatDuration(now - last)} ago` : 'none has ever run'
  return `no agent is running (${since}): nothing moves until one runs (start one with aso serve; aso agents lists them)`
}
