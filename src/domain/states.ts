/** Transfer states and the transition table of ARCHITECTURE.md section 4. */
export const TRANSFER_STATES = [
  'NEW',
  'SUBMITTING',
  'SUBMITTED',
  'RETRY',
  'KILLING',
  'DONE',
  'FAILED',
  'KILLED',
] as const
export type TransferState = (typeof TRANSFER_STATES)[number]

export const TERMINAL_STATES: readonly TransferState[] = ['DONE', 'FAILED', 'KILLED']
/** States in which an engine may hold (or be about to hold) the file: they count against a link's limit. */
export const IN_FLIGHT_STATES: readonly TransferState[] = ['SUBMITTING', 'SUBMITTED', 'KILLING']

export function isTerminal(state: TransferState): boolean {
  return TERMINAL_STATES.includes(state)
}

/**
 * Every event a record can undergo, with the states it may start from and where it leads.
 * The store applies each one as an update guarded by `state IN (from)`.
 */
export const TRANSITIONS = {
  /** submitter claims a batch and stores its engine job id */
  claim: { from: ['NEW'], to: 'SUBMITTING' },
  /** the engine accepted the job */
  submitted: { from: ['SUBMITTING'], to: 'SUBMITTED' },
  /** submit failed in a way that will pass (5xx, timeout): back to the queue, no attempt charged */
  submitDeferred: { from: ['SUBMITTING'], to: 'NEW' },
  /** submit refused for good (4xx that will not change) or no PFN could be built */
  submitRejected: { from: ['SUBMITTING'], to: 'FAILED' },
  /** verified at the destination; KILLING too when the engine finished before the cancel */
  done: { from: ['SUBMITTED', 'KILLING'], to: 'DONE' },
  /** an attempt failed with a transient error and attempts remain */
  retryLater: { from: ['SUBMITTED'], to: 'RETRY' },
  /** permanent error or attempts used up */
  fail: { from: ['SUBMITTED', 'KILLING'], to: 'FAILED' },
  /** lost through our fault (engine job unknown, queue timeout) or held: back to NEW, no attempt charged */
  requeue: { from: ['SUBMITTED'], to: 'NEW' },
  /** the retry's backoff has passed: the next attempt */
  retryDue: { from: ['RETRY'], to: 'NEW' },
  /** kill of a file no engine holds */
  killQueued: { from: ['NEW', 'RETRY'], to: 'KILLED' },
  /** kill of a file an engine holds or is about to hold: cancel first */
  killInFlight: { from: ['SUBMITTING', 'SUBMITTED'], to: 'KILLING' },
  /** the engine confirmed the cancel and the attempt's destination is gone (SUBMITTED: cancelled at the engine by someone else) */
  killed: { from: ['KILLING', 'SUBMITTED'], to: 'KILLED' },
  /** a user or operator asks for a new round of attempts */
  userRetry: { from: ['FAILED', 'KILLED'], to: 'NEW' },
  /** a newer jobRetry of the same destination file, once no engine holds the old one */
  supersede: { from: ['NEW', 'RETRY', 'DONE', 'FAILED', 'KILLED', 'KILLING'], to: 'NEW' },
  /** a newer jobRetry while an engine holds the old attempt: cancel it first (from KILLING: already asked) */
  supersedeInFlight: { from: ['SUBMITTING', 'SUBMITTED', 'KILLING'], to: 'KILLING' },
  /** place or lift a hold on a waiting file (quota, credential, site down); the state does not change */
  hold: { from: ['NEW'], to: 'NEW' },
} as const satisfies Record<string, { from: readonly TransferState[]; to: TransferState }>

export type TransitionName = keyof typeof TRANSITIONS

/** Whether `event` may be applied to a record in `state`. */
export function canApply(event: TransitionName, state: TransferState): boolean {
  return (TRANSITIONS[event].from as readonly TransferState[]).includes(state)
}

/** The pairs (from, to) the table allows: what a history may ever contain. */
export function allowedEdges(): Set<string> {
  const edges = new Set<string>()
  for (const t of Object.values(TRANSITIONS)) for (const f of t.from) edges.add(`${f}->${t.to}`)
  return edges
}
