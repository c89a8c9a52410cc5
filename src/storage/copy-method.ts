import type { Endpoint } from '../domain/endpoint.js'
import type { TransferCredentials } from './protocol.js'

/** What storage needs to know of a file to copy and verify it (the engines' files carry more). */
export interface CopyFile {
  /** the source's URLs, one per protocol the source site serves, in the site's order */
  sources: Endpoint[]
  /** the destination's URLs, one per protocol the destination site serves, in the site's order */
  destinations: Endpoint[]
  size: number
  /** 8 lowercase hex digits, what the job measured */
  adler32: string
  /**
   * true when an earlier attempt of ours may have written the destination (a retry, a resubmission
   * after a crash, a supersede): such a file is ours and may always be overwritten (invariant 10)
   */
  ownsDestination: boolean
}

/** One file to copy by one method: the ends are already chosen, the destination's overwrite question settled. */
export interface CopyTask {
  file: CopyFile
  source: Endpoint
  destination: Endpoint
  /**
   * the job allows replacing a destination file ASO did not write. A method that moves a verified copy into
   * place replaces an existing file only with this or `file.ownsDestination`: otherwise the engine found no
   * file there, and one that appeared since was written by someone else.
   */
  overwrite?: boolean
  /** aborted when this file is killed or the agent shuts down */
  signal: AbortSignal
}

/** What a method reports for one file. The engine verifies the destination unless `verified` says it did. */
export type CopyResult = (
  | { ok: true; bytes: number; verified?: { size: number; adler32: string } }
  | { ok: false; reason: string }
) & {
  /** the method that really moved the bytes, when a method fell back to another (HTTP-TPC to streamed) */
  method?: string
}

export interface CopyContext {
  /** how many copies (or processes) the method may run at once for this batch */
  concurrency: number
  /** extra environment for child processes (credentials, CA directory) */
  env: Record<string, string>
  /** the job's user credentials, for methods that talk to storage themselves (HTTP) */
  credentials?: TransferCredentials
}

/**
 * A way of moving bytes (file copy, xroot third-party copy, streamed copy, HTTP-TPC, gfal).
 * `run` reports each task once through `report`; it never throws for a file's failure.
 * A method removes whatever partial destination it left for a file it reports failed.
 */
export interface CopyMethod {
  readonly name: string
  /** lower is preferred: HTTP-TPC 10, xroot TPC 20, streamed 30, gfal 40, local file copy 5 */
  readonly rank: number
  /** third-party: the storage moves the bytes; only used where both sites allow TPC */
  readonly thirdParty?: boolean
  supports(sourceScheme: string, destinationScheme: string): boolean
  run(
    tasks: CopyTask[],
    ctx: CopyContext,
    report: (task: CopyTask, result: CopyResult) => void,
  ): Promise<void>
}
