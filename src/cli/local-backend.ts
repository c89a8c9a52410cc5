import { ownerScope } from '../api/auth/authorize.js'
import { injectBatch } from '../api/inject-batch.js'
import { taskListResponseSchema } from '../contract/dashboard.js'
import { listResponseSchema } from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import { TRANSFER_STATES } from '../domain/states.js'
import { explainTransfer } from '../reports/explain.js'
import { statusReport } from '../reports/status.js'
import { taskSummary } from '../reports/task.js'
import type { Selector } from '../store/ops/kill-retry.js'
import { type GlobalOptions, localIdentity, openApp } from './app.js'
import type { Backend } from './backend.js'
import { changeLink, changeUserWeight } from './local-operator.js'

/** How often a local `aso wait` looks at the store. */
const WAIT_POLL_MS = 500

/** The commands on the local store: the CLI holds the database, so it acts as an operator (see localIdentity). */
export async function openLocalBackend(opts: GlobalOptions): Promise<Backend> {
  const app = await openApp(opts)
  const caller = localIdentity(app.config)
  const actor = `cli:${caller.name}`
  const notFound = async (ids: readonly string[] | undefined) => {
    if (!ids) return []
    const found = new Set((await app.store.getMany(ids)).map((r) => r.id))
    return ids.filter((id) => !found.has(id))
  }
  const taskOf = async (task: string) => {
    const summary = await taskSummary(app.store, task)
    if (summary.total === 0)
      throw new AsoError('not-found', `no transfers in task "${task}": check the task name`)
    return summary
  }
  const selector = (sel: { ids?: string[]; task?: string }): Selector => ({
    ...(sel.ids ? { ids: sel.ids } : {}),
    ...(sel.task ? { task: sel.task } : {}),
  })
  return {
    where: `the database ${app.config.database.replace(/:[^:@/]*@/, ':***@')}`,
    inject: (requests) => injectBatch(app, caller, requests, actor),
    status: (filter) => statusReport(app.store, filter),
    // parsed by the API's answer schemas: the same fields as through --server
    async list(f) {
      const user = ownerScope(caller, f.user, 'see')
      const page = await app.store.list({
        ...(user !== undefined ? { user } : {}),
        ...(f.task !== undefined ? { task: f.task } : {}),
        ...(f.state !== undefined ? { state: f.state } : {}),
        ...(f.source !== undefined ? { source: f.source } : {}),
        ...(f.destination !== undefined ? { destination: f.destination } : {}),
        ...(f.class !== undefined ? { failureClass: f.class } : {}),
        ...(f.updatedSince !== undefined ? { updatedSince: f.updatedSince } : {}),
        ...(f.cursor !== undefined ? { cursor: f.cursor } : {}),
        limit: f.limit,
      })
      return listResponseSchema.parse(page)
    },
    async tasks(f) {
      const user = ownerScope(caller, f.user, 'see')
      const page = await app.store.taskList({
        ...(user !== undefined ? { user } : {}),
        ...(f.q ? { q: f.q } : {}),
        ...(f.status !== undefined && f.status !== 'all' ? { status: f.status } : {}),
        ...(f.cursor !== undefined ? { cursor: f.cursor } : {}),
        limit: f.limit,
      })
      return taskListResponseSchema.parse({
        items: page.items.map((t) => ({ ...t, total: TRANSFER_STATES.reduce((n, s) => n + t.states[s], 0) })),
        next: page.next,
      })
    },
    whoami: async () => ({
      name: caller.name,
      role: caller.role,
      groups: caller.groups === null ? null : [...caller.groups],
      vomsRoles: [...caller.vomsRoles],
      method: 'local',
    }),
    setLink: (source, destination, change) => changeLink(app, caller, actor, source, destination, change),
    setUserWeight: (user, weight) => changeUserWeight(app, caller, actor, user, weight),
    async explain(id) {
      const record = await app.store.get(id)
      if (!record) {
        throw new AsoError(
          'not-found',
          `no transfer with id ${id}; ids are 32 hex digits: aso list shows them, as does the inject output`,
        )
      }
      return explainTransfer(app.store, app.sites, app.config, record)
    },
    async kill(sel) {
      const reason = `killed by ${actor}${sel.reason ? `: ${sel.reason}` : ''}`
      const r = await app.store.kill(selector(sel), reason, Date.now(), actor)
      return { ...r, notFound: await notFound(sel.ids) }
    },
    async retry(sel) {
      const r = await app.store.retry(selector(sel), Date.now(), actor)
      return { ...r, notFound: await notFound(sel.ids) }
    },
    async publishRetry(sel) {
      const r = await app.store.retryPublications(selector(sel), Date.now(), actor)
      return { ...r, notFound: await notFound(sel.ids) }
    },
    task: (task) => taskOf(task),
    async waitTask(task, timeoutMs, progress = {}) {
      const deadline = Date.now() + timeoutMs
      let summary = await taskOf(task)
      let told = Date.now()
      while (!summary.complete && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, Math.min(WAIT_POLL_MS, Math.max(0, deadline - Date.now()))))
        summary = await taskSummary(app.store, task)
        if (Date.now() - told >= (progress.sliceMs ?? 0)) {
          told = Date.now()
          progress.onSummary?.(summary)
        }
      }
      return summary
    },
    close: () => app.close(),
  }
}
