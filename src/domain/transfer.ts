import type { FailureClass } from './failures.js'
import type { TransferState } from './states.js'

export type TransferType = 'output' | 'log'
export type SourceCleanupState = 'NONE' | 'PENDING' | 'DONE' | 'FAILED' | 'SKIPPED'
export type PublicationState = 'NOT_REQUIRED' | 'PENDING' | 'PUBLISHING' | 'PUBLISHED' | 'FAILED'

/** What a job hands over: one destination file. Field names are the API's. */
export interface TransferRequest {
  user: string
  group: string | null
  role: string | null
  task: string
  jobId: string
  jobRetry: number
  type: TransferType
  source: string
  sourceLfn: string
  destination: string
  destinationLfn: string
  size: number
  checksums: { adler32: string }
  priority: number
  activity: string
  publish: boolean
  dataset: string | null
  callbackUrl: string | null
}

/** The stored record: the request plus where it is in its life. Times are epoch milliseconds, UTC. */
export interface TransferRecord extends TransferRequest {
  id: string
  state: TransferState
  holdReason: string | null
  attempt: number
  maxAttempts: number
  /** how many times this record was handed to an engine (feeds the deterministic engine job id) */
  submissions: number
  nextAttemptAt: number | null
  engine: string | null
  engineJobId: string | null
  engineFileId: string | null
  /** the agent that claimed the record for its current engine job */
  agentId: string | null
  /** how the engine moved the file (e.g. "xroot-tpc", "file-copy"), for `aso explain` */
  method: string | null
  failureClass: FailureClass | null
  failureReason: string | null
  /** set while a newer jobRetry waits for the old attempt to be cancelled */
  supersedePending: boolean
  createdAt: number
  updatedAt: number
  submittedAt: number | null
  finishedAt: number | null
  sourceCleanup: SourceCleanupState
  cleanupAt: number | null
  publicationState: PublicationState
  blockName: string | null
  /** why publication failed or waits for its next attempt (catalog-transient / catalog-permanent) */
  publicationClass: 'catalog-transient' | 'catalog-permanent' | null
  publicationReason: string | null
}

/** What handing a file to an engine needs of its record: the submitter's claim reads just these. */
export type SubmittableTransfer = Pick<
  TransferRecord,
  | 'id'
  | 'state'
  | 'user'
  | 'group'
  | 'role'
  | 'task'
  | 'source'
  | 'sourceLfn'
  | 'destination'
  | 'destinationLfn'
  | 'size'
  | 'checksums'
  | 'activity'
  | 'priority'
  | 'attempt'
  | 'submissions'
  | 'jobRetry'
  | 'engineJobId'
>

/** The fields that make up a request's payload: same id and equal payload means "unchanged". */
export const PAYLOAD_FIELDS = [
  'user',
  'group',
  'role',
  'task',
  'jobId',
  'jobRetry',
  'type',
  'source',
  'sourceLfn',
  'destination',
  'destinationLfn',
  'size',
  'checksums',
  'priority',
  'activity',
  'publish',
  'dataset',
  'callbackUrl',
] as const satisfies readonly (keyof TransferRequest)[]

/** Names the payload fields on which two requests for the same destination file differ. */
export function payloadDifferences(a: TransferRequest, b: TransferRequest): string[] {
  const diff: string[] = []
  for (const f of PAYLOAD_FIELDS) {
    if (f === 'checksums') {
      if (a.checksums.adler32.toLowerCase() !== b.checksums.adler32.toLowerCase())
        diff.push('checksums.adler32')
    } else if (a[f] !== b[f]) diff.push(f)
  }
  return diff
}

/** A link is an ordered pair of sites; its key is how config and the store name it. */
export function linkKey(source: string, destination: string): string {
  return `${source}->${destination}`
}
