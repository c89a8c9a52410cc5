import type { StorePolicy } from '../context.js'
import type { TransferUpdate } from '../transition.js'

/** Columns that schedule the temporary source's deletion when a record ends in `state`. */
export function cleanupOnEnd(
  state: 'DONE' | 'FAILED' | 'KILLED',
  policy: StorePolicy,
  now: number,
): TransferUpdate {
  if (state === 'DONE') {
    return policy.deleteSourceOnDone
      ? { source_cleanup: 'PENDING', cleanup_at: now }
      : { source_cleanup: 'SKIPPED', cleanup_at: null }
  }
  return { source_cleanup: 'PENDING', cleanup_at: now + policy.tempRetention }
}
