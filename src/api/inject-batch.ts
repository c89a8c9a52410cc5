/**
 * One inject call: each item validated on its own against the caller's identity (invariant 8), the rule of
 * one callback URL per task checked against the store and the batch, and every valid item stored in one
 * transaction, which also refuses items in another user's task (a task belongs to the user who first used
 * it). Shared by POST /api/v1/transfers and the local `aso inject`.
 */
import type { AsoConfig } from '../config/schema.js'
import { taskCallbackProblem } from '../domain/callbacks.js'
import type { FieldError } from '../domain/errors.js'
import type { Identity } from '../domain/identity.js'
import { validateRequest } from '../domain/request.js'
import { taskOfAnotherUser } from '../domain/task-owner.js'
import type { SiteCatalog } from '../sites/catalog.js'
import { requestContext } from '../sites/request-context.js'
import type { InjectItem, InjectResult } from '../store/ops/inject.js'
import type { Store } from '../store/store.js'

export interface InjectItemResult extends InjectResult {
  /** every problem of a rejected item (`error` is the first) */
  errors?: FieldError[]
}

export interface InjectDeps {
  store: Store
  config: AsoConfig
  sites: SiteCatalog
}

function rejected(id: string | null, errors: FieldError[]): InjectItemResult {
  return { id, status: 'rejected', error: errors[0]!, errors }
}

/** Validates and stores `raws` (at most MAX_BATCH); one result per item, in order. */
export async function injectBatch(
  deps: InjectDeps,
  caller: Identity,
  raws: readonly unknown[],
  actor: string,
): Promise<InjectItemResult[]> {
  const ctx = requestContext(deps.config, deps.sites, caller)
  const results: (InjectItemResult | null)[] = []
  const valid: (InjectItem & { index: number })[] = []
  for (const [index, raw] of raws.entries()) {
    if (index % 200 === 199) await new Promise((resolve) => setImmediate(resolve)) // ~0.1 ms each: let others run
    const v = validateRequest(raw, ctx)
    if (v.ok) {
      valid.push({ id: v.id, request: v.request, index })
      results.push(null)
    } else results.push(rejected(v.id, v.errors))
  }

  // another user's task: refused before anything else is said about it (the inject transaction, which claims
  // new tasks, refuses again what changed meanwhile)
  const owners = await deps.store.taskOwners(valid.map((v) => v.request.task))
  const mine = valid.filter((item) => {
    const owner = owners.get(item.request.task)
    if (owner === undefined || owner === item.request.user) return true
    results[item.index] = rejected(item.id, [taskOfAnotherUser(item.request.task)])
    return false
  })

  // one callback URL per task: what the store holds for the user's files of the task, else the first valid
  // item of the batch. Always per user: the message shows the URL
  const taskOf = (r: InjectItem['request']) => JSON.stringify([r.user, r.task])
  const known = new Map<string, string | null>()
  for (const key of new Set(mine.map((v) => taskOf(v.request)))) {
    const [user, task] = JSON.parse(key) as [string, string]
    const stored = await deps.store.taskCallbackUrls(task, user, 1)
    if (stored.length) known.set(key, stored[0]!)
  }
  const accepted: typeof valid = []
  for (const item of mine) {
    const { task, callbackUrl } = item.request
    const problem = taskCallbackProblem(task, callbackUrl, known.get(taskOf(item.request)))
    if (problem) {
      results[item.index] = rejected(item.id, [{ field: 'callbackUrl', message: problem }])
      continue
    }
    known.set(taskOf(item.request), callbackUrl)
    accepted.push(item)
  }

  if (accepted.length) {
    const stored = await deps.store.inject(accepted, {
      now: Date.now(),
      actor,
      maxAttempts: deps.config.retry.maxAttempts,
    })
    for (const [i, r] of stored.entries()) {
      results[accepted[i]!.index] = r.status === 'rejected' && r.error ? { ...r, errors: [r.error] } : r
    }
  }
  return results.map((r) => r ?? rejected(null, [{ field: '(request)', message: 'was not processed' }]))
}
