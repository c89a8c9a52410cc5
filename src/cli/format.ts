import Table from 'cli-table3'
import { PUBLICATION_STATES } from '../domain/publication.js'
import { TRANSFER_STATES, type TransferState } from '../domain/states.js'
import type { PublicationState } from '../domain/transfer.js'

export function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } })
  for (const r of rows) t.push(r.map(String))
  return t.toString()
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}

/** "DONE 150  FAILED 4  NEW 20" in the state machine's order. */
export function stateLine(states: Partial<Record<TransferState, number>>): string {
  return TRANSFER_STATES.filter((s) => states[s])
    .map((s) => `${s} ${states[s]}`)
    .join('  ')
}

/**
 * "PENDING 20  PUBLISHED 130  NOT_REQUIRED 4", or '' when no file asked for publication (NOT_REQUIRED alone
 * says nothing worth a line).
 */
export function publicationLine(counts: Record<PublicationState, number>): string {
  if (PUBLICATION_STATES.every((s) => s === 'NOT_REQUIRED' || counts[s] === 0)) return ''
  return PUBLICATION_STATES.filter((s) => s !== 'NOT_REQUIRED' && counts[s])
    .concat(counts.NOT_REQUIRED ? ['NOT_REQUIRED'] : [])
    .map((s) => `${s} ${counts[s]}`)
    .join('  ')
}

export function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
