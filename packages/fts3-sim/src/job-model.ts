/** The double's jobs and files, shaped like FTS's t_job / t_file rows (docs/fts3-rest.md §2, §3). */

export const FILE_ACTIVE_STATES = [
  'STAGING',
  'STARTED',
  'SUBMITTED',
  'READY',
  'ACTIVE',
  'ARCHIVING',
  'QOS_TRANSITION',
  'QOS_REQUEST_SUBMITTED',
] as const
export const FILE_TERMINAL_STATES = ['FINISHED', 'FAILED', 'CANCELED'] as const
/** Queued states `max_time_in_queue` cancels. */
export const FILE_QUEUED_STATES = ['SUBMITTED', 'NOT_USED', 'STAGING', 'ON_HOLD'] as const
export const JOB_ACTIVE_STATES = [
  'STAGING',
  'SUBMITTED',
  'READY',
  'ACTIVE',
  'DELETE',
  'ARCHIVING',
  'QOS_TRANSITION',
  'QOS_REQUEST_SUBMITTED',
] as const

/** held back by a WAIT storage ban (docs/fts3-rest.md §1 "Bans") */
export const FILE_ON_HOLD_STATES = ['ON_HOLD', 'ON_HOLD_STAGING'] as const

export type FileState =
  | (typeof FILE_ACTIVE_STATES)[number]
  | (typeof FILE_TERMINAL_STATES)[number]
  | (typeof FILE_ON_HOLD_STATES)[number]
  | 'NOT_USED'
export type JobType = 'N' | 'H' | 'Y' | 'R'

export const isFileActive = (s: string): boolean => (FILE_ACTIVE_STATES as readonly string[]).includes(s)
export const isFileTerminal = (s: string): boolean => (FILE_TERMINAL_STATES as readonly string[]).includes(s)
export const isJobActive = (s: string): boolean => (JOB_ACTIVE_STATES as readonly string[]).includes(s)

/** One run of url-copy for a file, as the double saw it (not an FTS field: for tests). */
export interface Attempt {
  /** 0 for the first run, then `retry` + 1 ... */
  retry: number
  method: string | null
  startedAt: Date
  finishedAt: Date | null
  outcome: 'Ok' | 'Error' | 'Abort' | null
  reason: string | null
}

/** A row of t_file_retry_errors: the error of an attempt FTS retried. */
export interface RetryEntry {
  fileId: number
  attempt: number
  datetime: Date
  reason: string
  transferHost: string | null
  logFile: string | null
}

export interface SimFile {
  fileId: number
  fileIndex: number
  jobId: string
  fileState: FileState
  fileStateInitial: string
  sourceSurl: string
  destSurl: string
  sourceSe: string
  destSe: string
  voName: string
  priority: number
  reason: string | null
  recoverable: boolean | null
  retry: number
  filesize: number | null
  userFilesize: number
  /** `ALGO:value`, or the algorithm alone (`ADLER32` when the submission had none) */
  checksum: string
  startTime: Date | null
  finishTime: Date | null
  stagingStart: Date | null
  stagingFinished: Date | null
  txDuration: number | null
  throughput: number | null
  transferHost: string | null
  logFile: string | null
  fileMetadata: unknown
  /** tape: objects given at submission, null when absent */
  stagingMetadata: Record<string, unknown> | null
  archiveMetadata: Record<string, unknown> | null
  activity: string
  selectionStrategy: string
  scitag: number | null
  pid: number | null
  destSurlUuid: string | null
  srcTokenId: string | null
  dstTokenId: string | null
  /** earliest time (ms) the scheduler may start it again (retry_delay) */
  eligibleAt: number
  attempts: Attempt[]
  retries: RetryEntry[]
}

export interface SimJob {
  jobId: string
  jobState: string
  jobType: JobType
  reason: string | null
  submitTime: Date
  jobFinished: Date | null
  sourceSe: string | null
  destSe: string | null
  userDn: string
  credId: string | null
  voName: string
  vomsCred: string
  priority: number
  retry: number
  retryDelay: number
  /** epoch seconds, or null */
  maxTimeInQueue: number | null
  verifyChecksum: string
  /** Y, R, M, D, Q or null: stored and answered as the letter */
  overwriteFlag: string | null
  internalJobParams: string | null
  jobMetadata: Record<string, unknown>
  destinationSpaceToken: string
  sourceSpaceToken: string
  bringOnline: number
  copyPinLifetime: number
  archiveTimeout: number
  dstFileReport: boolean
  cancelJob: boolean
  submitHost: string
  /** the deterministic-id sid, when one was given */
  sid: string | null
  files: SimFile[]
}
