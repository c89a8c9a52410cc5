/**
 * Who is calling, as fts-rest-flask's UserCredentials sees it (docs/fts3-rest.md §1 `/whoami`, §4): the DN,
 * FQANs, VOs, delegation id and the level of access to transfers.
 */
import { createHash } from 'node:crypto'
import { uuid5 } from 'aso/domain/ids'

/** FTS's fixed namespace of VO ids and deterministic job ids. */
export const BASE_ID = '01874efb-4735-4595-bc9c-591aef8240c9'

export type AuthMethod = 'certificate' | 'oauth2' | 'unauthenticated'

export interface Caller {
  userDn: string
  /** the DNs the server saw: the user's, then the proxies' */
  dn: string[]
  vomsCred: string[]
  vos: string[]
  delegationId: string | null
  method: AuthMethod
  isRoot: boolean
  roles: string[]
  /** access to other people's transfers: their own VO's, everyone's, or nothing (anonymous) */
  transferLevel: 'vo' | 'all' | null
  /** the bearer token, for token users */
  token?: string
}

/** `uuid5(BASE_ID, vo)`: `vos_id` entries and the namespace of deterministic job ids. */
export function voId(vo: string): string {
  return uuid5(BASE_ID, vo)
}

/** First 16 hex digits of sha1(DN + FQAN1 + FQAN2 ...). */
export function delegationIdOf(dn: string, fqans: readonly string[]): string {
  const h = createHash('sha1').update(dn, 'utf8')
  for (const fqan of fqans) h.update(fqan, 'utf8')
  return h.digest('hex').slice(0, 16)
}

/** `/cms/uscms/Role=pilot/Capability=NULL` → `cms/uscms` */
export function voFromFqan(fqan: string): string {
  const groups: string[] = []
  for (const c of fqan.split('/').slice(1)) {
    if (c.toLowerCase().startsWith('role=')) break
    groups.push(c)
  }
  return groups.join('/')
}

function rolesOf(fqans: readonly string[]): string[] {
  const roles: string[] = []
  for (const fqan of fqans) {
    const m = /^(\/.+)*\/Role=(\w+)(\/.*)?$/i.exec(fqan)
    if (m && m[2]!.toUpperCase() !== 'NULL') roles.push(m[2]!)
  }
  return roles
}

/** A user's FQANs: configured per DN, else the default VO's plain FQAN, else none. */
export function fqansFor(dn: string, vomsByDn?: Record<string, string[]>, vo?: string): string[] {
  return vomsByDn?.[dn] ?? (vo ? [`/${vo}/Role=NULL/Capability=NULL`] : [])
}

export const ANONYMOUS: Caller = {
  userDn: 'anon',
  dn: ['anon'],
  vomsCred: [],
  vos: [],
  delegationId: null,
  method: 'unauthenticated',
  isRoot: false,
  roles: [],
  transferLevel: null,
}

/** A certificate (or proxy) user; without FQANs the VO is the "virtual VO": the delegation id itself. */
export function certificateCaller(o: {
  dn: string
  proxyDns?: readonly string[]
  fqans?: readonly string[]
  hostDn?: string
}): Caller {
  const fqans = [...(o.fqans ?? [])]
  const delegationId = delegationIdOf(o.dn, fqans)
  const vos: string[] = []
  for (const fqan of fqans) {
    const vo = voFromFqan(fqan)
    if (vo && !vos.includes(vo)) vos.push(vo)
  }
  if (vos.length === 0) vos.push(delegationId)
  const isRoot = o.hostDn !== undefined && o.hostDn === o.dn
  return {
    userDn: o.dn,
    dn: [o.dn, ...(o.proxyDns ?? [])],
    vomsCred: fqans,
    vos,
    delegationId,
    method: 'certificate',
    isRoot,
    roles: rolesOf(fqans),
    transferLevel: isRoot ? 'all' : 'vo',
  }
}

/** A bearer-token user: DN = `sub`, VOs from `wlcg.groups` (else the issuer's host), level "all". */
export function tokenCaller(o: {
  issuer: string
  subject: string
  groups?: readonly string[]
  scope?: readonly string[]
  token: string
}): Caller {
  const vos: string[] = []
  if (o.groups !== undefined) {
    for (const g of o.groups) {
      const vo = g.startsWith('/') ? g.slice(1) : g
      if (!vos.includes(vo)) vos.push(vo)
    }
  } else {
    let host = o.issuer
    try {
      host = new URL(o.issuer).hostname
    } catch (err) {
      // not a URL: the issuer string itself names the VO, as the server's fallback does
      void err
    }
    vos.push(host)
  }
  return {
    userDn: o.subject,
    dn: [o.subject],
    vomsCred: [...(o.scope ?? [])],
    vos,
    delegationId: createHash('sha1')
      .update(o.issuer + o.subject, 'utf8')
      .digest('hex')
      .slice(0, 16),
    method: 'oauth2',
    isRoot: false,
    roles: [],
    transferLevel: 'all',
    token: o.token,
  }
}

/** May `caller` see or change a job owned by `ownerDn` in VO `ownerVo`? (fts3auth `authorized(TRANSFER)`) */
export function mayAccess(caller: Caller, ownerDn?: string, ownerVo?: string): boolean {
  if (caller.transferLevel === 'all') return true
  if (caller.transferLevel === 'vo') {
    return ownerVo === undefined || caller.vos.includes(ownerVo) || ownerDn === caller.userDn
  }
  return false
}

/** The body of `GET /whoami`. */
export function whoamiBody(caller: Caller): Record<string, unknown> {
  const anonymous = caller.method === 'unauthenticated'
  const level = caller.isRoot
    ? { transfer: 'all', deleg: 'all', config: 'all', admin: 'all', datamanagement: 'all' }
    : anonymous
      ? []
      : { transfer: 'vo' }
  return {
    user_dn: caller.userDn,
    dn: caller.dn,
    base_id: BASE_ID,
    voms_cred: caller.vomsCred,
    vos: caller.vos,
    vos_id: caller.vos.map(voId),
    roles: caller.roles,
    level,
    delegation_id: caller.delegationId,
    method: caller.method,
    is_root: caller.isRoot,
  }
}
