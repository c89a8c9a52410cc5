/**
 * `GET /status/hosts` (`fts-rest-server-status`): what each host is doing, `{host: {"staging": n,
 * "active": n}}` counted from STARTED files by staging host and ACTIVE files by transfer host. Certificate
 * users with the config level (root) only.
 */
import { forbidden } from '../http-errors.js'
import { sendJson } from '../replies.js'
import { callerOf, type SimContext } from '../sim-context.js'

export function registerServerStatusRoutes(ctx: SimContext): void {
  ctx.routes.add('GET', '/status/hosts', async (request, reply) => {
    const caller = callerOf(ctx, request)
    if (caller.method !== 'certificate') throw forbidden('Certificate required')
    if (!caller.isRoot) throw forbidden('Not enough permissions')
    const hosts: Record<string, Record<string, number>> = {}
    const count = (host: string | null, what: 'staging' | 'active'): void => {
      // Python's json writes a None key as "null"
      const entry = hosts[String(host)] ?? {}
      entry[what] = (entry[what] ?? 0) + 1
      hosts[String(host)] = entry
    }
    for (const job of ctx.store.liveJobs()) {
      for (const f of job.files) {
        if (f.fileState === 'STARTED') count(null, 'staging')
        else if (f.fileState === 'ACTIVE') count(f.transferHost, 'active')
      }
    }
    return sendJson(reply, 200, hosts)
  })
}
