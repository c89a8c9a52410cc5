/**
 * The block's replication rule: one copy at the block's RSE, grouping DATASET, owned by the user's account,
 * so the replicas are locked and count against that account's quota. An existing rule of that account on
 * the block at that RSE is adopted (a repeat after a crash); a second POST would be a 409 DuplicateRule.
 * Put after the files are attached: Rucio creates the locks of files attached later only in its judge daemon.
 */
import { CatalogError } from '../catalog.js'
import type { RucioClient } from './client.js'
import { type RefusalContext, refusalError } from './errors.js'
import { didPath, parseJson } from './http.js'

export interface RuleStep {
  client: RucioClient
  scope: string
  ctx: RefusalContext
  signal?: AbortSignal
}

interface ListedRule {
  id: string
  account: string
  rse_expression: string
}

/** The id of the block's rule for `account` at `rse`, created when there is none. */
export async function ensureRule(
  step: RuleStep,
  block: string,
  account: string,
  rse: string,
): Promise<string> {
  const existing = await findRule(step, block, account, rse)
  if (existing) return existing
  const json = {
    dids: [{ scope: step.scope, name: block }],
    account,
    copies: 1,
    rse_expression: rse,
    grouping: 'DATASET',
  }
  const call = { method: 'POST', path: '/rules/', json } as const
  const answer = await step.client.call(call, step.signal)
  if (answer.status === 201) {
    const ids = parseJson(answer.text)
    if (Array.isArray(ids) && typeof ids[0] === 'string') return ids[0]
  }
  // 409 DuplicateRule (made between our read and our call) or an answer without an id: read it back
  const made = await findRule(step, block, account, rse)
  if (made) return made
  if (answer.status === 201) {
    throw new CatalogError(
      'catalog-transient',
      `${step.client.what(call)} answered 201 "${answer.text.slice(0, 200)}" but no rule of ${account} at ${rse} is listed on ${step.scope}:${block}; retried later`,
    )
  }
  throw refusalError(answer, step.client.what(call), step.ctx)
}

async function findRule(step: RuleStep, block: string, account: string, rse: string): Promise<string | null> {
  const rules = (await step.client.list(
    { method: 'GET', path: didPath(step.scope, block, '/rules') },
    step.ctx,
    step.signal,
  )) as ListedRule[]
  return rules.find((r) => r.account === account && r.rse_expression === rse)?.id ?? null
}
