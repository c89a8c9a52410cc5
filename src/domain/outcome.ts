/** What engines report about a file's attempt, and what the store records from it. */

export type FileResult = 'done' | 'failed' | 'killed' | 'interrupted'

/**
 * The end of one file's attempt. `failed` reasons use FTS's `SCOPE [errno] message` form so one classifier
 * serves every engine; `interrupted` means we stopped it ourselves (shutdown) and no attempt is charged.
 */
export interface FileOutcome {
  jobId: string
  transferId: string
  attempt: number
  result: FileResult
  reason: string
  /** the engine's own retry verdict, when it has one (FTS `recoverable`) */
  recoverable?: boolean
  /** how the file was moved, e.g. "xroot-tpc", "file-copy" */
  method?: string
  engineFileId?: string
  bytes?: number
  durationMs?: number
}
