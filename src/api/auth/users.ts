import type { AsoConfig } from '../../config/schema.js'
import { dnKey, parseSlashDn } from '../../credentials/dn.js'
import type { Rdn } from '../../credentials/index.js'
import { AsoError } from '../../domain/errors.js'
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

/**
 * The grid-mapfile of `users:`: certificate subject (as RDNs, from the certificate's ASN.1) → username. DNs are
 * compared RDN by RDN, so a subject `OU="Users/CN=alice"` does not match `/OU=Users/CN=alice`. The config
 * schema has refused DNs that do not parse; one that still fails here is an internal error.
 */
export function gridMap(config: AsoConfig): (subject: readonly Rdn[]) => string | undefined {
  const map = new Map<string, string>()
  for (const [name, u] of Object.entries(config.users)) {
    for (const dn of u.dns) {
      const parsed = parseSlashDn(dn)
      if (!parsed.ok) throw new AsoError('invalid-config', `users.${name}.dns: ${parsed.reason}`)
      map.set(dnKey(parsed.rdns), name)
    }
  }
  return (subject) => map.get(dnKey(subject))
}
