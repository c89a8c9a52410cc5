/**
 * Invariant 4 when FTS was not asked to compare the destination with our checksum (an operator lowered
 * `verifyChecksum` below `both`/`target`): before a file FTS calls finished is DONE, ASO reads the destination's
 * size and adler32 itself and compares them with what it submitted.
 */

import type { FileOutcome } from '../../domain/outcome.js'
import type { StorageRegistry } from '../../storage/registry.js'
import { verifyDestination } from '../../storage/verify.js'
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
  if (!storage || d.destination === null || d.size === null || d.adler32 === null) {
    return {
      ...d.outcome,
      result: 'failed',
      reason: 'TRANSFER [5] FTS did not compare checksums and ASO cannot read the destination: not verified',
    }
  }
  const check = await verifyDestination(
    storage,
    d.destination,
    { size: d.size, adler32: d.adler32 },
    { who: 'FTS' },
  )
  if (!check.ok) return { ...d.outcome, result: 'failed', reason: check.reason }
  return { ...d.outcome, reason: 'copied by FTS; size and adler32 verified by ASO' }
}
