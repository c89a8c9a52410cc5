import type { Identity } from '../../src/domain/identity.js'
import { DEFAULT_AREAS } from '../../src/domain/lfn.js'
import { type RequestContext, validateRequest } from '../../src/domain/request.js'
import type { InjectItem } from '../../src/store/ops/inject.js'

export const ADMIN: Identity = { name: 'ops', role: 'admin', groups: null, vomsRoles: [] }

/** A request context where the given sites exist with the default areas. */
export function contextFor(sites: string[] = ['A', 'B', 'C'], caller: Identity = ADMIN): RequestContext {
  return {
    caller,
    groupsOf: () => null,
    siteAreas: (s) => (sites.includes(s) ? DEFAULT_AREAS : undefined),
  }
}

/** A valid raw request; override any field. */
export function rawRequest(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  const user = (over.user as string) ?? 'alice'
  return {
    user,
    task: 'task1',
    jobId: i,
    source: 'A',
    sourceLfn: `/store/temp/user/${user}.abc/f${i}.root`,
    destination: 'B',
    destinationLfn: `/store/user/${user}/f${i}.root`,
    size: 1000 + i,
    checksums: { adler32: (0x1000 + i).toString(16) },
    ...over,
  }
}

/** Validated items ready for store.inject. */
export function items(n: number, over: (i: number) => Record<string, unknown> = () => ({})): InjectItem[] {
  return Array.from({ length: n }, (_, i) => {
    const v = validateRequest(rawRequest(i, over(i)), contextFor())
    if (!v.ok) throw new Error(JSON.stringify(v.errors))
    return { id: v.id, request: v.request }
  })
}
