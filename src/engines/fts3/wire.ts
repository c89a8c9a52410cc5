/** The FTS3 REST objects the engine reads (docs/fts3-rest.md §2 "Objects returned", §3), and how ASO tags files. */

/** A file object, as `?files=` or `/jobs/{id}/files` return it (only the fields the engine reads). */
export interface FtsFile {
  file_id?: number
  file_state?: string
  reason?: string | null
  recoverable?: boolean | null
  file_metadata?: unknown
  dest_surl?: string
  filesize?: number | null
  user_filesize?: number | null
  checksum?: string | null
  start_time?: string | null
  finish_time?: string | null
  tx_duration?: number | null
}

/** A job object, or a failed entry of a multi-status answer (shape 2: `http_status`, `http_message`). */
export interface FtsJob {
  job_id?: string
  job_state?: string
  reason?: string | null
  submit_time?: string | null
  job_finished?: string | null
  job_metadata?: unknown
  files?: FtsFile[]
  http_status?: string
  http_message?: string | null
}

/** The `GET /whoami` fields the engine uses. */
export interface Whoami {
  user_dn: string
  delegation_id: string | null
  vos: string[]
  vos_id: string[]
  method: string
}

export const TERMINAL_FILE_STATES: ReadonlySet<string> = new Set(['FINISHED', 'FAILED', 'CANCELED'])
export const TERMINAL_JOB_STATES: ReadonlySet<string> = new Set([
  'FINISHED',
  'FINISHEDDIRTY',
  'FAILED',
  'CANCELED',
])
/** Job states in which files are being copied (others that are not terminal are queued). */
export const RUNNING_JOB_STATES: ReadonlySet<string> = new Set(['READY', 'ACTIVE', 'ARCHIVING'])

/** The fields the bulk status call asks for (`?files=`). */
export const STATUS_FILE_FIELDS = [
  'file_id',
  'file_state',
  'reason',
  'recoverable',
  'file_metadata',
  'dest_surl',
  'filesize',
  'user_filesize',
  'checksum',
  'start_time',
  'finish_time',
  'tx_duration',
] as const

/** FTS datetimes are naive UTC `YYYY-MM-DDTHH:MM:SS`; undefined when absent or unreadable. */
export function ftsTimeMs(value: unknown): number | undefined {
  if (typeof value !== 'string' || value === '') return undefined
  const ms = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(value) ? value : `${value}Z`)
  return Number.isFinite(ms) ? ms : undefined
}

/** Which ASO transfer attempt an FTS file is: carried in the file's `metadata` (echoed as `file_metadata`). */
export interface FileTag {
  transferId: string
  attempt: number
}

/** The per-file metadata ASO submits: our transfer id, the attempt and the submission number. */
export function fileMetadata(
  transferId: string,
  attempt: number,
  submission: number,
): Record<string, unknown> {
  return { transfer: transferId, attempt, submission }
}

/** Reads our tag back from `file_metadata`; null for files that are not ASO's (or metadata mangled). */
export function fileTag(metadata: unknown): FileTag | null {
  let m = metadata
  if (typeof m === 'string') {
    try {
      m = JSON.parse(m)
    } catch (err) {
      // a plain string label: not one of ours
      void err
      return null
    }
  }
  if (typeof m !== 'object' || m === null) return null
  const { transfer, attempt } = m as { transfer?: unknown; attempt?: unknown }
  if (typeof transfer !== 'string' || !/^[0-9a-f]{32}$/.test(transfer)) return null
  const n = typeof attempt === 'string' ? Number(attempt) : attempt
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return null
  return { transferId: transfer, attempt: n }
}

/** `job_metadata` of ASO's jobs: who submitted them, so messages of other deployments can be told apart. */
export function jobMetadata(instance: string, user: string, task: string): Record<string, string> {
  return { issuer: 'ASO', instance, user, task }
}
