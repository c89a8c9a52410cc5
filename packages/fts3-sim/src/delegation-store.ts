/**
 * The server side of GridSite delegation (docs/fts3-rest.md §4): a cached CSR and its private key per
 * (delegation id, DN), the delegated credentials, and the check a certificate submission makes (419).
 */
import { assembleProxyFile, checkDelegatedChain, makeProxyCsr } from 'aso/credentials'
import type { Caller } from './caller.js'
import { FtsHttpError } from './http-errors.js'

interface CredentialCache {
  csrPem: string
  keyPem: string
  vomsAttrs: string
}

export interface StoredCredential {
  delegationId: string
  dn: string
  /** delegated certificate, its key, then the chain: what url-copy would be given */
  proxyPem: string
  vomsAttrs: string
  terminationTime: Date
}

const HOUR_MS = 3600_000

/** 419: the status FTS's HTTPAuthenticationTimeout carries. */
const needDelegation = (message: string): FtsHttpError => new FtsHttpError(419, message)

export class DelegationStore {
  private readonly caches = new Map<string, CredentialCache>()
  private readonly credentials = new Map<string, StoredCredential>()

  private static key(delegationId: string, dn: string): string {
    return `${delegationId}\u0000${dn}`
  }

  /** The CSR for the caller's delegation id: made once, then the same one on every call. */
  request(caller: Caller): { csrPem: string; delegationId: string } {
    const dlg = caller.delegationId ?? ''
    const key = DelegationStore.key(dlg, caller.userDn)
    let cache = this.caches.get(key)
    if (!cache) {
      const { csrPem, keyPem } = makeProxyCsr()
      cache = { csrPem, keyPem, vomsAttrs: caller.vomsCred.join(' ') }
      this.caches.set(key, cache)
    }
    return { csrPem: cache.csrPem, delegationId: dlg }
  }

  /** Stores a delegated proxy chain; throws 400 as the server words it. */
  putCredential(caller: Caller, chainPem: string): void {
    const dlg = caller.delegationId ?? ''
    const key = DelegationStore.key(dlg, caller.userDn)
    const cache = this.caches.get(key)
    if (!cache) throw new FtsHttpError(400, 'No credential cache found')
    const check = checkDelegatedChain(chainPem, cache.keyPem)
    if (!check.ok) throw new FtsHttpError(400, check.reason)
    this.credentials.set(key, {
      delegationId: dlg,
      dn: caller.userDn,
      proxyPem: assembleProxyFile(chainPem, cache.keyPem),
      vomsAttrs: cache.vomsAttrs,
      terminationTime: check.terminationTime,
    })
  }

  /** A credential that needs no delegation flow (the `--insecure-dn` mode). */
  grant(credential: StoredCredential): void {
    this.credentials.set(DelegationStore.key(credential.delegationId, credential.dn), credential)
  }

  credentialOf(caller: Caller): StoredCredential | undefined {
    return this.find(caller.delegationId ?? '', caller.userDn)
  }

  /** The credential a job's transfers run with: its `cred_id` and its user's DN. */
  find(delegationId: string, dn: string): StoredCredential | undefined {
    return this.credentials.get(DelegationStore.key(delegationId, dn))
  }

  /** Removes the caller's credential; false when there was none. */
  remove(caller: Caller): boolean {
    return this.credentials.delete(DelegationStore.key(caller.delegationId ?? '', caller.userDn))
  }

  /** What `POST /jobs` checks for certificate users before anything else of the job. */
  checkForSubmission(caller: Caller, now: number = Date.now()): void {
    const credential = this.credentialOf(caller)
    if (!credential) throw needDelegation(`No delegation found for "${caller.userDn}"`)
    const remainingMs = credential.terminationTime.getTime() - now
    if (remainingMs < 0) {
      // Python's timedelta floors to whole seconds before the sign is dropped
      const seconds = Math.abs(Math.floor(remainingMs / 1000))
      throw needDelegation(
        `The delegated credentials expired ${seconds} seconds ago (${credential.delegationId})`,
      )
    }
    if (remainingMs < HOUR_MS) {
      throw needDelegation(
        `The delegated credentials has less than one hour left (${credential.delegationId})`,
      )
    }
  }

  all(): StoredCredential[] {
    return [...this.credentials.values()].map((c) => ({ ...c }))
  }
}
