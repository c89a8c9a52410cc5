import { rm } from 'node:fs/promises'
import { Agent } from '../../agent/runner.js'
import { loadConfig } from '../../config/load.js'
import { validateRequest } from '../../domain/request.js'
import { TERMINAL_STATES, type TransferState } from '../../domain/states.js'
import { SiteCatalog } from '../../sites/catalog.js'
import { openStore } from '../../store/open.js'
import type { Store } from '../../store/store.js'
import { makeLogger, requestContext } from '../app.js'
import { openCatalog } from '../catalog.js'
import { buildEngines } from '../engines.js'
import type { DemoPlan } from './plan.js'

export interface DemoSummary {
  total: number
  states: Partial<Record<TransferState, number>>
  byClass: Record<string, number>
  seconds: number
  filesPerSecond: number
  megabytesPerSecond: number
  bytes: number
  users: { user: string; done: number; failed: number; killed: number; bytes: number }[]
  links: { link: string; done: number; failed: number; bytes: number }[]
  failures: {
    id: string
    user: string
    destinationLfn: string
    class: string
    reason: string
    attempts: number
  }[]
  sourcesCleaned: number
  /** what did not go as planted; empty when the run behaved */
  surprises: string[]
}

export interface Progress {
  elapsedMs: number
  states: Partial<Record<TransferState, number>>
  doneBytes: number
}

/** Runs the agent in this process until every file is terminal and every due clean-up ran. */
export async function runDemo(plan: DemoPlan, onProgress: (p: Progress) => void): Promise<DemoSummary> {
  const { config } = loadConfig({ path: plan.configPath })
  const store = await openStore(config.database, {
    policy: {
      deleteSourceOnDone: config.cleanup.deleteSourceOnDone,
      tempRetention: config.cleanup.tempRetention,
    },
  })
  const sites = new SiteCatalog(config)
  const { engines, storage } = buildEngines(config)
  const log = makeLogger('warn', `${plan.dir}/agent.log`)
  const agent = new Agent({ config, store, sites, engines, storage, catalog: openCatalog(config), log })
  const started = Date.now()
  try {
    const ctx = requestContext(config, sites, { name: 'demo', role: 'admin', groups: null, vomsRoles: [] })
    const items = plan.requests.map((r) => {
      const v = validateRequest(r, ctx)
      if (!v.ok) throw new Error(`demo request invalid: ${JSON.stringify(v.errors)}`)
      return { id: v.id, request: v.request }
    })
    await store.inject(items, { now: Date.now(), actor: 'demo', maxAttempts: config.retry.maxAttempts })
    await agent.start()
    const transientId = items.find((i) => i.request.destinationLfn === plan.transient.destinationLfn)!.id
    let blockerRemoved = false
    for (;;) {
      const p = await progress(store, started)
      onProgress(p)
      if (!blockerRemoved) {
        const t = await store.get(transientId)
        if (t && t.attempt === 1 && t.state === 'RETRY') {
          // the "site" comes back: the next attempt finds the directory it needs
          await rm(plan.transient.blocker, { force: true })
          blockerRemoved = true
        }
      }
      const open = Object.entries(p.states)
        .filter(([s]) => !TERMINAL_STATES.includes(s as TransferState))
        .reduce((a, [, n]) => a + (n ?? 0), 0)
      const pendingCleanups = (await store.dueCleanups(Date.now(), 1)).length
      if (open === 0 && pendingCleanups === 0) break
      await new Promise((r) => setTimeout(r, 100))
    }
    const seconds = (Date.now() - started) / 1000
    await agent.stop()
    return await summarise(store, plan, seconds, transientId)
  } finally {
    await store.close()
  }
}

async function progress(store: Store, started: number): Promise<Progress> {
  const rows = await store.counts()
  const states: Progress['states'] = {}
  let doneBytes = 0
  for (const r of rows) {
    states[r.state] = (states[r.state] ?? 0) + r.n
    if (r.state === 'DONE') doneBytes += r.bytes
  }
  return { elapsedMs: Date.now() - started, states, doneBytes }
}

async function summarise(
  store: Store,
  plan: DemoPlan,
  seconds: number,
  transientId: string,
): Promise<DemoSummary> {
  const all = (await store.list({ limit: 100_000 })).items
  const states: DemoSummary['states'] = {}
  const byClass: Record<string, number> = {}
  const users = new Map<string, DemoSummary['users'][number]>()
  const links = new Map<string, DemoSummary['links'][number]>()
  let doneBytes = 0
  const surprises: string[] = []
  for (const t of all) {
    states[t.state] = (states[t.state] ?? 0) + 1
    if (t.failureClass && t.state !== 'DONE') byClass[t.failureClass] = (byClass[t.failureClass] ?? 0) + 1
    const u = users.get(t.user) ?? { user: t.user, done: 0, failed: 0, killed: 0, bytes: 0 }
    const linkName = `${t.source}->${t.destination}`
    const l = links.get(linkName) ?? { link: linkName, done: 0, failed: 0, bytes: 0 }
    if (t.state === 'DONE') {
      u.done++
      l.done++
      u.bytes += t.size
      l.bytes += t.size
      doneBytes += t.size
    } else if (t.state === 'FAILED') {
      u.failed++
      l.failed++
    } else if (t.state === 'KILLED') u.killed++
    users.set(t.user, u)
    links.set(linkName, l)
    const expected = plan.expectedFailures.get(t.destinationLfn)
    if (expected && (t.state !== 'FAILED' || t.failureClass !== expected)) {
      surprises.push(
        `${t.destinationLfn}: expected FAILED/${expected}, got ${t.state}/${t.failureClass ?? '-'}`,
      )
    }
    if (!expected && t.state !== 'DONE')
      surprises.push(`${t.destinationLfn}: expected DONE, got ${t.state} (${t.failureReason})`)
    if (t.state === 'DONE' && t.sourceCleanup !== 'DONE')
      surprises.push(`${t.sourceLfn}: temporary source not removed`)
  }
  const transient = all.find((t) => t.id === transientId)
  if (transient && (transient.state !== 'DONE' || transient.attempt !== 2)) {
    surprises.push(
      `the transient failure should succeed on attempt 2; it is ${transient.state} after ${transient.attempt}`,
    )
  }
  const failures = all
    .filter((t) => t.state === 'FAILED')
    .map((t) => ({
      id: t.id,
      user: t.user,
      destinationLfn: t.destinationLfn,
      class: t.failureClass ?? '',
      reason: t.failureReason ?? '',
      attempts: t.attempt,
    }))
  return {
    total: all.length,
    states,
    byClass,
    seconds: Math.round(seconds * 100) / 100,
    filesPerSecond: Math.round((all.length / seconds) * 10) / 10,
    megabytesPerSecond: Math.round((doneBytes / 1e6 / seconds) * 10) / 10,
    bytes: doneBytes,
    users: [...users.values()].sort((a, b) => a.user.localeCompare(b.user)),
    links: [...links.values()].sort((a, b) => a.link.localeCompare(b.link)),
    failures,
    sourcesCleaned: all.filter((t) => t.sourceCleanup === 'DONE').length,
    surprises,
  }
}
