/**
 * Invariant 4 when FTS was not asked to compare the destination with our checksum (an operator lowered
 * `verifyChecksum` below `both`/`target`): before a file FTS calls finished is DONE, ASO reads the destination's
 * size and adler32 itself and compares them with what it submitted.
 */
import { StorageError } from '../local/protocol.js'
import type { StorageRegistry } from '../local/storage.js'
import type { FileOutcome } from '../types.js'
import type { DoneFile } from './status.js'

/** Done outcomes replaced by what the check found; empty when FTS verified end to end. */
export async function verifyDone(
  done: readonly DoneFile[],
  mode: string,
  storage: StorageRegistry | undefined,
): Promise<Map<FileOutcome, FileOutcome>> {
  const out = new Map<FileOutcome, FileOutcome>()
  if (mode === 'both' || mode === 'target') return out
  for (const d of done) out.set(d.outcome, await verifyOne(d, storage))
  return out
}

async function verifyOne(d: DoneFile, storage: StorageRegistry | undefined): Promise<FileOutcome> {
  const failed = (reason: string): FileOutcome => ({ ...d.outcome, result: 'failed', reason })
  if (!storage || d.destination === null || d.size === null || d.adler32 === null) {
    return failed(
      'TRANSFER [5] FTS did not compare checksums and ASO cannot read the destination: not verified',
    )
  }
  const at = { scope: 'DESTINATION' as const }
  try {
    const st = await storage.stat(d.destination, at)
    if (!st) return failed('DESTINATION [2] FTS reported the copy finished but the destination has no file')
    if (st.size !== d.size) {
      return failed(`DESTINATION [22] Source and destination file size mismatch (${d.size} != ${st.size})`)
    }
    const sum = await storage.adler32(d.destination, at)
    if (sum !== d.adler32) {
      return failed(
        `DESTINATION [5] User-defined and destination ADLER32 checksum do not match (${d.adler32} != ${sum})`,
      )
    }
    return { ...d.outcome, reason: 'copied by FTS; size and adler32 verified by ASO' }
  } catch (err) {
    return failed(err instanceof StorageError ? err.reason : `DESTINATION [5] ${(err as Error).message}`)
  }
}
