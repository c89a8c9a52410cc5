import type { LoopContext } from './context.js'

/**
 * Lifts credential holds (ARCHITECTURE.md §4 `holdReason`): once every engine that acts with users' own
 * credentials finds the user's proxy or token valid again, and its file changed after the hold began (a new
 * one arrived), the user's files go back into the queue at once instead of waiting for the hold to expire.
 */
export class CredentialWatcher {
  readonly name = 'credential-watcher'

  constructor(private readonly ctx: LoopContext<'activeHolds' | 'releaseHolds'>) {}

  async run(): Promise<number> {
    const engines = [...this.ctx.engines.values()].filter((e) => e.credentialStatus)
    if (engines.length === 0) return 0
    const now = this.ctx.now()
    const since = new Map<string, number>()
    for (const h of await this.ctx.store.activeHolds(now)) {
      if (h.class === 'credential') since.set(h.user, Math.max(since.get(h.user) ?? 0, h.since))
    }
    let released = 0
    for (const [user, heldSince] of since) {
      const states = await Promise.all(engines.map((e) => e.credentialStatus!(user)))
      if (!states.every((s) => s.problem === null && (s.changedAt ?? 0) > heldSince)) continue
      const n = await this.ctx.store.releaseHolds({ user, class: 'credential' }, now, this.ctx.agentId)
      if (n > 0) {
        this.ctx.log.info({ user, holds: n }, 'a valid credential arrived: hold lifted')
        released += n
      }
    }
    if (released > 0) this.ctx.wake('submitter')
    return 0
  }
}
