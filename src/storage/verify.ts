/**
 * Invariant 4: a copy is DONE only when the destination's size and adler32 match the record. The reasons
 * for a mismatch are built here and only here, in FTS's `SCOPE [errno] message` wording, because the failure
 * classifier (domain/failure-rules.ts) reads them: "source and user-defined" is the job's own file
 * (permanent-source), any other mismatch is a bad copy (corrupt-copy).
 */
import { StorageError, type StorageOptions } from './protocol.js'

/** What the job recorded of a file. */
export interface RecordedFile {
  size: number
  /** 8 lowercase hex digits */
  adler32: string
}

/** The mismatches, as storage errors: `.reason` is the text, or throw it from inside a copy. */
export const mismatch = {
  /** the source is not the file the job recorded */
  sourceSize: (record: number, actual: number, note = '') =>
    new StorageError(
      'SOURCE',
      5,
      `Source and user-defined size do not match (${record} != ${actual})${note}`,
    ),
  sourceChecksum: (record: string, actual: string) =>
    new StorageError(
      'SOURCE',
      5,
      `Source and user-defined ADLER32 checksum do not match (${record} != ${actual})`,
    ),
  /** the destination differs from the record */
  destinationSize: (record: number, actual: number) =>
    new StorageError('DESTINATION', 22, `Source and destination file size mismatch (${record} != ${actual})`),
  destinationChecksum: (record: string, actual: string) =>
    new StorageError(
      'DESTINATION',
      5,
      `User-defined and destination ADLER32 checksum do not match (${record} != ${actual})`,
    ),
  /** the copy's two ends differ (checked while copying) */
  transferChecksum: (source: string, destination: string | null) =>
    new StorageError(
      'TRANSFER',
      5,
      `TRANSFER CHECKSUM MISMATCH Source and destination checksums do not match ${source} != ${destination}`,
    ),
  /** the copy reported success but nothing is there */
  destinationMissing: (who: string) =>
    new StorageError('DESTINATION', 2, `${who} reported the copy finished but the destination has no file`),
} as const

/** The reason a destination found as `found` is not the recorded file; null when it is. */
export function destinationProblem(record: RecordedFile, found: RecordedFile): string | null {
  if (found.size !== record.size) return mismatch.destinationSize(record.size, found.size).reason
  if (found.adler32 !== record.adler32)
    return mismatch.destinationChecksum(record.adler32, found.adler32).reason
  return null
}

/** The storage reads a verification needs (StorageRegistry has them). */
export interface DestinationReader {
  stat(url: string, opts?: StorageOptions): Promise<{ size: number } | null>
  adler32(url: string, opts?: StorageOptions): Promise<string>
}

export type Verification = { ok: true; size: number; adler32: string } | { ok: false; reason: string }

/**
 * Reads the destination's size and adler32 (or takes what the copy method already measured end to end)
 * and compares them with the record. A storage error becomes the failure, never an exception.
 */
export async function verifyDestination(
  storage: DestinationReader,
  url: string,
  record: RecordedFile,
  opts: { who: string; measured?: RecordedFile; credentials?: StorageOptions['credentials'] },
): Promise<Verification> {
  const at: StorageOptions = { scope: 'DESTINATION', credentials: opts.credentials }
  try {
    let found = opts.measured
    if (!found) {
      const st = await storage.stat(url, at)
      if (!st) return { ok: false, reason: mismatch.destinationMissing(opts.who).reason }
      // a size that differs already decides; do not read the whole file for its checksum
      if (st.size !== record.size)
        return { ok: false, reason: mismatch.destinationSize(record.size, st.size).reason }
      found = { size: st.size, adler32: await storage.adler32(url, at) }
    }
    const problem = destinationProblem(record, found)
    return problem ? { ok: false, reason: problem } : { ok: true, ...found }
  } catch (err) {
    return {
      ok: false,
      reason: err instanceof StorageError ? err.reason : `DESTINATION [5] ${(err as Error).message}`,
    }
  }
}
