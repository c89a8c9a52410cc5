import type { AsoConfig } from '../../config/schema.js'
import type { Identity } from '../../domain/identity.js'

/** What the API knows of a caller: who (the Identity every rule is applied to) and how they proved it. */
export interface Caller {
  identity: Identity
  method: 'certificate' | 'token' | 'insecure-dev'
  /** the certificate identity (end-entity DN), for certificate callers */
  dn?: string
}

/** ASO usernames: what a token claim or the X-ASO-User header must hold. */
export const USERNAME = /^[A-Za-z0-9._-]{1,64}$/

/**
 * The Identity of a username from `users:` in aso.yaml: its role (default `user`) and groups. Groups a
 * credential proves (a token's groups claim) replace the configured ones. With no `users:` at all (a one-machine
 * trial) groups are unknown and any group is accepted, as for the local CLI.
 */
export function identityOf(config: AsoConfig, name: string, provenGroups?: readonly string[]): Identity {
  const configured = config.users[name]
  const anyUsers = Object.keys(config.users).length > 0
  return {
    name,
    role: configured?.role ?? 'user',
    groups: provenGroups ?? configured?.groups ?? (anyUsers ? [] : null),
    vomsRoles: configured?.vomsRoles ?? [],
  }
}

/** The grid-mapfile of `users:`: certificate DN → username. */
export function gridMap(config: AsoConfig): Map<string, string> {
  const map = new Map<string, string>()
  for (const [name, u] of Object.entries(config.users)) for (const dn of u.dns) map.set(dn, name)
  return map
}
