import type { TransferState } from './api/types.js'

/** Every state in the order of the pipeline, with its colour (the same on every page and chart). */
export const STATES: readonly TransferState[] = [
  'NEW',
  'SUBMITTING',
  'SUBMITTED',
  'RETRY',
  'KILLING',
  'DONE',
  'FAILED',
  'KILLED',
]

export const STATE_COLOURS: Record<TransferState, string> = {
  NEW: '#8a94a6',
  SUBMITTING: '#6aa6e8',
  SUBMITTED: '#2f7fd8',
  RETRY: '#e6a23c',
  KILLING: '#b17ad6',
  DONE: '#2e9d5b',
  FAILED: '#d64545',
  KILLED: '#6b4f8a',
}

/** Publication states in the order a file goes through them; NOT_REQUIRED (nothing to publish) last. */
export const PUBLICATION_STATES = ['PENDING', 'PUBLISHING', 'PUBLISHED', 'FAILED', 'NOT_REQUIRED'] as const

export const IN_FLIGHT: readonly TransferState[] = ['SUBMITTING', 'SUBMITTED', 'KILLING']
export const TERMINAL: readonly TransferState[] = ['DONE', 'FAILED', 'KILLED']

/** The four parts of a progress bar: done, failed (FAILED and KILLED), in flight, waiting (NEW and RETRY). */
export function progressParts(states: Partial<Record<TransferState, number>>) {
  const n = (s: TransferState) => states[s] ?? 0
  return {
    done: n('DONE'),
    failed: n('FAILED') + n('KILLED'),
    inFlight: n('SUBMITTING') + n('SUBMITTED') + n('KILLING'),
    waiting: n('NEW') + n('RETRY'),
  }
}
