/**
 * The copy methods that move files with `xrdcp` (ARCHITECTURE.md section 7, docs/storage-notes.md §1):
 * `xroot-tpc` (xroot-tpc.ts, batches in xroot-batch.ts) and `xroot-stream` (xroot-stream.ts). Both write a
 * run-unique temporary name, verify it, and only then move it to the final name (xroot-settle.ts).
 */
import type { CopyMethod } from '../copy-method.js'
import { xrootStream } from './xroot-stream.js'
import { xrootTpc } from './xroot-tpc.js'

export { rootProtocol } from './root-protocol.js'
export { xrootStream } from './xroot-stream.js'
export { xrootTpc } from './xroot-tpc.js'

/** The xrdcp copy methods, best first. */
export function xrootMethods(): CopyMethod[] {
  return [xrootTpc, xrootStream]
}
