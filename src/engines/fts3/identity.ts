/**
 * `GET /whoami` per (server, credential), cached (docs/fts3-rest.md §1, §4): it gives the delegation id (which
 * changes with the proxy's VOMS attributes, so it is read, never computed) and `vos_id[0]`, the namespace of
 * the deterministic job ids (§7). A renewed proxy is a new credential key, so it is asked again.
 */
import { type ClientAuth, type Fts3Client, httpError } from './client.js'
import type { Whoami } from './wire.js'

const TTL_MS = 10 * 60_000

export class Identities {
  private readonly known = new Map<string, { who: Promise<Whoami>; at: number }>()

  constructor(private readonly client: Fts3Client) {}

  whoami(server: string, auth: ClientAuth): Promise<Whoami> {
    const key = `${server}\0${auth.key}`
    const cached = this.known.get(key)
    if (cached && Date.now() - cached.at < TTL_MS) return cached.who
    const who = this.ask(server, auth)
    this.known.set(key, { who, at: Date.now() })
    who.catch(() => {
      if (this.known.get(key)?.who === who) this.known.delete(key)
    })
    return who
  }

  forget(server: string, auth: ClientAuth): void {
    this.known.delete(`${server}\0${auth.key}`)
  }

  private async ask(server: string, auth: ClientAuth): Promise<Whoami> {
    const answer = await this.client.call(server, auth, 'GET', '/whoami')
    if (answer.status !== 200) throw httpError(answer, `GET ${server}/whoami`)
    const o = answer.json as Partial<Whoami> | undefined
    if (o?.method === 'unauthenticated') {
      throw new Error(
        `${server} did not accept the credential (it sees an anonymous user): is its CA trusted there?`,
      )
    }
    if (!o || !Array.isArray(o.vos_id) || typeof o.vos_id[0] !== 'string') {
      throw new Error(`GET ${server}/whoami: no vos_id in the answer (${answer.text.slice(0, 200)})`)
    }
    return {
      user_dn: String(o.user_dn ?? ''),
      delegation_id: typeof o.delegation_id === 'string' ? o.delegation_id : null,
      vos: Array.isArray(o.vos) ? o.vos.map(String) : [],
      vos_id: o.vos_id.map(String),
      method: String(o.method ?? ''),
    }
  }
}
