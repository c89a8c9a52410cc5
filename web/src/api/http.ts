import { authHeaders, type Credential } from './session.js'

/** A refusal of the API: its stable code and the message that says what to do. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

let credential: Credential | null = null
let onUnauthenticated: () => void = () => {}

/** Sets the credential every call sends, and what to do when the API no longer accepts it. */
export function setApiCredential(c: Credential | null, unauthenticated: () => void): void {
  credential = c
  onUnauthenticated = unauthenticated
}

export function currentCredential(): Credential | null {
  return credential
}

/** Calls the API (same origin) and returns its JSON; every refusal becomes an ApiError with the API's message. */
export async function api<T>(
  path: string,
  init: { method?: 'GET' | 'POST'; body?: unknown } = {},
): Promise<T> {
  const res = await fetch(path, {
    method: init.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...authHeaders(credential),
      ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  })
  const text = await res.text()
  let body: unknown = null
  if (text) {
    try {
      body = JSON.parse(text)
    } catch (e) {
      throw new ApiError(
        res.status,
        'invalid-response',
        `the server answered ${res.status} without JSON (${String(e)})`,
      )
    }
  }
  if (!res.ok) {
    const err = (body as { error?: { code: string; message: string } } | null)?.error
    if (res.status === 401) onUnauthenticated()
    throw new ApiError(res.status, err?.code ?? 'error', err?.message ?? `the server answered ${res.status}`)
  }
  return body as T
}

/** A query string from the defined values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v))
  const s = q.toString()
  return s ? `?${s}` : ''
}
