/**
 * What the publisher needs to know of an RSE: whether it is deterministic (Rucio computes each file's PFN, so
 * a replica is registered without one) or not (the replica carries ASO's PFN). Cached per RSE for the
 * catalog's life; an RSE's determinism does not change under a running service.
 */
import { CatalogError } from '../catalog.js'
import type { RucioClient } from './client.js'
import { type RefusalContext, refusalError, refusalOf, rseNotFoundHint } from './errors.js'
import { parseJson, quotePlus } from './http.js'

export interface RseInfo {
  name: string
  deterministic: boolean
}

export class RseCache {
  private readonly known = new Map<string, RseInfo>()

  constructor(private readonly client: RucioClient) {}

  async get(rse: string, ctx: RefusalContext, signal?: AbortSignal): Promise<RseInfo> {
    const cached = this.known.get(rse)
    if (cached) return cached
    const call = { method: 'GET', path: `/rses/${quotePlus(rse)}` } as const
    const answer = await this.client.call(call, signal)
    if (answer.status === 404 && refusalOf(answer).exceptionClass === 'RSENotFound') {
      throw new CatalogError('catalog-permanent', rseNotFoundHint(rse), 404)
    }
    if (answer.status !== 200) throw refusalError(answer, this.client.what(call), ctx)
    const body = parseJson(answer.text) as { deterministic?: unknown } | undefined
    if (typeof body?.deterministic !== 'boolean') {
      throw new CatalogError(
        'catalog-transient',
        `${this.client.what(call)} answered without "deterministic": ${answer.text.slice(0, 200)}; retried later`,
      )
    }
    const info = { name: rse, deterministic: body.deterministic }
    this.known.set(rse, info)
    return info
  }
}
