/**
 * How this browser proves who it is. A bearer token or (--insecure-dev) a username is kept in sessionStorage
 * for this tab only; with client-certificate TLS the browser's certificate does it and nothing is stored.
 */
export type Credential =
  | { kind: 'token'; token: string }
  | { kind: 'user'; user: string }
  | { kind: 'certificate' }

const KEY = 'aso.credential'

export function storedCredential(): Credential | null {
  const text = sessionStorage.getItem(KEY)
  if (text === null) return null
  try {
    const c = JSON.parse(text) as Credential
    return c.kind === 'token' || c.kind === 'user' || c.kind === 'certificate' ? c : null
  } catch (e) {
    // a damaged entry is a logged-out tab
    console.warn('ignoring a damaged stored credential', e)
    sessionStorage.removeItem(KEY)
    return null
  }
}

export function storeCredential(c: Credential | null): void {
  if (c === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, JSON.stringify(c))
}

/** The headers that carry a credential (none for a certificate: TLS carries it). */
export function authHeaders(c: Credential | null): Record<string, string> {
  if (c?.kind === 'token') return { authorization: `Bearer ${c.token}` }
  if (c?.kind === 'user') return { 'x-aso-user': c.user }
  return {}
}
