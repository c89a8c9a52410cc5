/**
 * Operators' settings on the local store: the same checks as the API's routes (the contract's schemas, the
 * operator role, sites of the catalog) and the same store operations, which write the audit rows.
 */
import type { z } from 'zod'
import { requireOperator } from '../api/auth/authorize.js'
import {
  type LinkSettingResponse,
  linkChangeBodySchema,
  linkParamsSchema,
  userParamsSchema,
  type WeightResponse,
  weightBodySchema,
} from '../contract/dashboard.js'
import { AsoError } from '../domain/errors.js'
import type { Identity } from '../domain/identity.js'
import { linkSettingView } from '../reports/link-limits.js'
import type { App } from './app.js'
import type { LinkChange } from './backend.js'

/** The value, or a usage error naming what is wrong (the API answers 400 with the same message). */
function checked<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issue = r.error.issues[0]
  throw new AsoError('usage', `${what}: ${issue?.message ?? 'not valid'}`)
}

export async function changeLink(
  app: App,
  caller: Identity,
  actor: string,
  source: string,
  destination: string,
  change: LinkChange,
): Promise<LinkSettingResponse> {
  requireOperator(caller, 'changing a link')
  const { link } = checked(linkParamsSchema, { link: `${source}->${destination}` }, 'the link')
  const body = checked(linkChangeBodySchema, change, 'the change')
  for (const site of [source, destination]) {
    if (!app.sites.has(site)) {
      throw new AsoError('not-found', `no site "${site}" in the site catalog: check the link ${link}`)
    }
  }
  await app.store.setLinkSetting(link, body, actor, Date.now())
  return linkSettingView(app.store, app.sites, source, destination)
}

export async function changeUserWeight(
  app: App,
  caller: Identity,
  actor: string,
  user: string,
  weight: number,
): Promise<WeightResponse> {
  requireOperator(caller, "changing a user's weight")
  checked(userParamsSchema, { user }, 'the user')
  const body = checked(weightBodySchema, { weight }, 'the weight')
  await app.store.setUserWeight(user, body.weight, actor, Date.now())
  return { user, weight: body.weight }
}
