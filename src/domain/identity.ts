/** Who is calling: a user, an operator or an admin, with the groups their credential proves. */
export type Role = 'user' | 'operator' | 'admin'

export interface Identity {
  /** the ASO username */
  name: string
  role: Role
  /** VOMS groups (or token groups) of the caller; null when nothing is known (embedded defaults) */
  groups: readonly string[] | null
  /** VOMS roles the caller may use in a request's `role` field */
  vomsRoles: readonly string[]
}

/** Operators and admins act on everyone's transfers; users only on their own. */
export function actsOnAll(identity: Identity): boolean {
  return identity.role === 'operator' || identity.role === 'admin'
}
