import { formatDuration } from '../../domain/duration.js'
import type { AgentRow } from '../../store/ops/agents.js'
import type { HeldJobs, LeaseRow } from '../../store/ops/leases.js'
import { type GlobalOptions, openApp } from '../app.js'
import { table } from '../format.js'

export interface AgentView {
  id: string
  host: string
  pid: number
  startedAt: number
  heartbeatAt: number
  /** heartbeat within the lease: alive; else dead, and its work is taken over at the next reaper run */
  live: boolean
  /** loop name → when it last ran (0: never, e.g. a singleton loop of an agent that is not the leader) */
  loops: Record<string, number>
  leases: string[]
  jobs: { submitting: number; submitted: number; files: number }
}

/** Agents not stopped, with what each holds; `orphaned`: open jobs of agents gone (taken over soon). */
export function agentViews(
  agents: readonly AgentRow[],
  held: readonly HeldJobs[],
  leases: readonly LeaseRow[],
  now: number,
  lease: number,
): { agents: AgentView[]; orphaned: HeldJobs | null } {
  const byAgent = new Map(held.map((h) => [h.agentId ?? '', h]))
  const views = agents.map((a) => {
    const h = byAgent.get(a.id)
    byAgent.delete(a.id)
    return {
      id: a.id,
      host: a.host,
      pid: a.pid,
      startedAt: a.startedAt,
      heartbeatAt: a.heartbeatAt,
      live: a.heartbeatAt >= now - lease,
      loops: a.loops,
      leases: leases.filter((l) => l.holder === a.id && l.until > now).map((l) => l.name),
      jobs: { submitting: h?.submitting ?? 0, submitted: h?.submitted ?? 0, files: h?.files ?? 0 },
    }
  })
  const rest = [...byAgent.values()]
  const orphaned = rest.length
    ? rest.reduce(
        (o, h) => ({
          agentId: null,
          submitting: o.submitting + h.submitting,
          submitted: o.submitted + h.submitted,
          files: o.files + h.files,
        }),
        { agentId: null, submitting: 0, submitted: 0, files: 0 },
      )
    : null
  return { agents: views, orphaned }
}

const ago = (now: number, at: number) => (at <= 0 ? 'never' : `${formatDuration(Math.max(0, now - at))} ago`)

/** `aso agents`: live agents, their loops, last heartbeat and what they hold. */
export async function agentsCommand(opts: GlobalOptions & { json?: boolean }) {
  const app = await openApp(opts)
  try {
    const now = Date.now()
    const [agents, held, leases] = await Promise.all([
      app.store.agents(),
      app.store.heldJobs(),
      app.store.leases(),
    ])
    const report = agentViews(agents, held, leases, now, app.config.agent.lease)
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ now, ...report }, null, 2)}\n`)
      return
    }
    if (report.agents.length === 0) process.stdout.write('no agent is running (start one with: aso serve)\n')
    else {
      process.stdout.write(
        `${table(
          [
            { head: 'agent', fit: 'keep' },
            'state',
            'heartbeat',
            'up',
            { head: 'holds', fit: 'wrap' },
            { head: 'loops (last run)', fit: 'wrap' },
          ],
          report.agents.map((a) => [
            `${a.id}\n${a.host} pid ${a.pid}`,
            a.live ? 'live' : 'dead (no heartbeat)',
            ago(now, a.heartbeatAt),
            formatDuration(Math.max(0, now - a.startedAt)),
            [
              ...a.leases.map((l) => `${l} lease`),
              `${a.jobs.submitted + a.jobs.submitting} engine jobs (${a.jobs.submitting} submitting), ${a.jobs.files} files`,
            ].join('\n'),
            Object.entries(a.loops)
              .map(([name, at]) => `${name} ${ago(now, at)}`)
              .join('\n'),
          ]),
        )}\n`,
      )
    }
    if (report.orphaned) {
      const o = report.orphaned
      process.stdout.write(
        `${o.submitting + o.submitted} engine jobs (${o.files} files) are held by agents that stopped: ` +
          'a running agent takes them over at its next reaper run\n',
      )
    }
  } finally {
    await app.close()
  }
}
