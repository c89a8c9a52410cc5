import { createHash } from 'node:crypto'

/** Record id: the first 32 hex digits of SHA-256 of destination site + "\n" + destination LFN. */
export function transferId(destinationSite: string, destinationLfn: string): string {
  return createHash('sha256').update(`${destinationSite}\n${destinationLfn}`).digest('hex').slice(0, 32)
}

/** One member of an engine job, as it enters the job id. */
export interface JobMember {
  id: string
  attempt: number
  submissions: number
}

/**
 * The submission id of a batch: a hash of its sorted (transfer id, attempt, submission number).
 * The same after a crash (the record keeps its numbers), new for any retry or resubmission.
 */
export function batchSid(members: readonly JobMember[]): string {
  const parts = members.map((m) => `${m.id}:${m.attempt}:${m.submissions}`).sort()
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 32)
}

/** A UUID (version 5 layout) made from a namespace UUID and a name, as FTS derives deterministic job ids. */
export function uuid5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex')
  if (ns.length !== 16) throw new Error(`uuid5: namespace "${namespace}" is not a UUID`)
  const hash = createHash('sha1').update(ns).update(name, 'utf8').digest()
  const b = hash.subarray(0, 16)
  b[6] = (b[6]! & 0x0f) | 0x50
  b[8] = (b[8]! & 0x3f) | 0x80
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** The namespace of ASO's own deterministic ids (built-in engine jobs). */
export const ASO_NAMESPACE = '6f1d8a3e-2c4b-5e7a-9b0c-1d2e3f405162'
