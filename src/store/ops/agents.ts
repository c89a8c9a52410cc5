import type { StoreContext } from '../context.js'
import type { Db, Trx } from '../dialect.js'

export interface AgentRow {
  id: string
  host: string
  pid: number
  startedAt: number
  heartbeatAt: number
  loops: Record<string, number>
  stoppedAt: number | null
}

/**
 * Records an agent's heartbeat. Returns false when the agent was declared dead (its row is stopped): it must
 * stop at once, since another agent may already own its work (fencing).
 */
export async function heartbeat(trx: Trx, a: Omit<AgentRow, 'stoppedAt'>): Promise<boolean> {
  const existing = await trx
    .selectFrom('agents')
    .select('stopped_at')
    .where('id', '=', a.id)
    .executeTakeFirst()
  if (existing && existing.stopped_at !== null) return false
  const row = {
    id: a.id,
    host: a.host,
    pid: a.pid,
    started_at: a.startedAt,
    heartbeat_at: a.heartbeatAt,
    loops: JSON.stringify(a.loops),
    stopped_at: null,
  }
  await trx
    .insertInto('agents')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({ heartbeat_at: row.heartbeat_at, loops: row.loops }))
    .execute()
  // agents stopped a day ago are history: keep the table small
  await trx
    .deleteFrom('agents')
    .where('stopped_at', '<', a.heartbeatAt - 86_400_000)
    .execute()
  return true
}

export async function agents(trx: Trx): Promise<AgentRow[]> {
  const rows = await trx
    .selectFrom('agents')
    .selectAll()
    .where('stopped_at', 'is', null)
    .orderBy('started_at')
    .execute()
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: Number(r.pid),
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    loops: JSON.parse(r.loops) as Record<string, number>,
    stoppedAt: r.stopped_at === null ? null : Number(r.stopped_at),
  }))
}

/** Marks an agent stopped (a graceful stop): its leases and jobs are free at once. */
export async function stopAgent(db: Db, id: string, now: number): Promise<void> {
  await db.updateTable('agents').set({ stopped_at: now }).where('id', '=', id).execute()
}

/** The store's door for the agents' heartbeats. */
export interface AgentOps {
  /** false: this agent was declared dead and must stop (another agent may own its work now) */
  heartbeat(agent: Omit<AgentRow, 'stoppedAt'>): Promise<boolean>
  stopAgent(id: string, now: number): Promise<void>
  /** agents not stopped (alive, or dead and not yet noticed) */
  agents(): Promise<AgentRow[]>
}

export function agentOps(s: StoreContext): AgentOps {
  return {
    heartbeat: (agent) => s.tx((trx) => heartbeat(trx, agent)),
    stopAgent: (id, now) => stopAgent(s.db, id, now),
    agents: () => s.tx((trx) => agents(trx)),
  }
}
