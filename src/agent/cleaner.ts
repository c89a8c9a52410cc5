import { inAnyTempArea } from '../domain/lfn.js'
import { eachLimit } from '../storage/each-limit.js'
import { StorageError } from '../storage/protocol.js'
import type { LoopContext } from './context.js'

/** Deletes temporary sources: after DONE, and after FAILED/KILLED once the retention passed. Only in temp areas. */
export class Cleaner {
  readonly name = 'cleaner'

  constructor(private readonly ctx: LoopContext<'dueCleanups' | 'recordCleanup'>) {}

  async run(): Promise<number> {
    const { store, sites, storage } = this.ctx
    const due = await store.dueCleanups(this.ctx.now(), this.ctx.config.agent.batchSize)
    if (due.length === 0) return 0
    const results: { id: string; outcome: 'DONE' | 'FAILED' | 'SKIPPED'; reason: string }[] = []
    await eachLimit(due, 8, async (item) => {
      const areas = sites.areas(item.source)
      if (!areas || !inAnyTempArea(item.sourceLfn, areas)) {
        results.push({
          id: item.id,
          outcome: 'SKIPPED',
          reason: `${item.sourceLfn} is not in a temporary area`,
        })
        return
      }
      try {
        const endpoint = storage.pick(sites.endpoints(item.source, item.sourceLfn))
        if (!endpoint) {
          results.push({ id: item.id, outcome: 'SKIPPED', reason: `no storage client for ${item.source}` })
          return
        }
        await storage.remove(endpoint.url, { scope: 'SOURCE' })
        results.push({ id: item.id, outcome: 'DONE', reason: `removed ${endpoint.url}` })
      } catch (e) {
        const reason = e instanceof StorageError ? e.reason : (e as Error).message
        results.push({ id: item.id, outcome: 'FAILED', reason })
      }
    })
    await store.recordCleanup(results, this.ctx.now(), this.ctx.agentId)
    return due.length
  }
}
