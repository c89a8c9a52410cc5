/**
 * `xroot-stream`: a copy through the agent with xrdcp, for root<->file and root->root without third-party
 * copy (ARCHITECTURE.md section 7). Written to a run-unique temporary name, verified there, then moved into place.
 */
import { normaliseAdler32 } from '../adler32.js'
import { runChild } from '../child-process.js'
import type { CopyContext, CopyMethod, CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { errorLine } from './root-protocol.js'
import {
  ABORTED,
  copyTimeoutMs,
  type End,
  endOf,
  makeParent,
  partOf,
  ROOT_SCHEMES,
  removeLeftover,
  toolArg,
} from './xroot-ends.js'
import { removeStaleParts } from './xroot-leftovers.js'
import { copyReason, once, type Report, reasonOf, settle, timeoutReason } from './xroot-settle.js'

/** How many copies (processes) a method may run at once for a batch. */
export function concurrencyOf(ctx: CopyContext): number {
  return Math.max(1, Math.floor(ctx.concurrency))
}

async function streamOne(task: CopyTask, env: Record<string, string>, report: Report): Promise<void> {
  if (task.signal.aborted) return report(task, { ok: false, reason: ABORTED })
  let src: End
  let dst: End
  let part: End
  try {
    src = endOf(task.source, 'SOURCE')
    dst = endOf(task.destination, 'DESTINATION')
    part = partOf(dst)
    await makeParent(dst)
  } catch (err) {
    return report(task, { ok: false, reason: reasonOf(err, 'TRANSFER') })
  }
  // no -f: the temporary name is new, and two writers must never share one file
  // --posc: the server drops a root:// destination the client did not close (agent killed mid-copy)
  const args = ['--nopbar', '--cksum', `adler32:${normaliseAdler32(task.file.adler32)}`, '--rm-bad-cksum']
  if (dst.kind === 'root') args.push('--posc')
  const timeoutMs = copyTimeoutMs(task.file.size)
  const r = await runChild('xrdcp', [...args, toolArg(src), toolArg(part)], {
    signal: task.signal,
    env,
    timeoutMs,
  })
  if (r.aborted) {
    await removeLeftover(part, env)
    return report(task, { ok: false, reason: ABORTED })
  }
  let callReason: string | undefined
  if (r.timedOut) callReason = timeoutReason(timeoutMs)
  else if (r.code !== 0) callReason = copyReason(errorLine(r.stderr, r.code, r.signal), r.code, src, part)
  await settle({ task, src, dst, part }, callReason, env, report)
}

/**
 * Streams `tasks`, each reported once through `report`. `removeStale`: first remove what earlier runs left
 * for the tasks that own their destination (false when the caller, xroot-tpc falling back, already did).
 */
export async function streamTasks(
  tasks: readonly CopyTask[],
  ctx: CopyContext,
  report: Report,
  opts: { removeStale: boolean },
): Promise<void> {
  if (opts.removeStale) await removeStaleParts(tasks, ctx.env)
  await eachLimit(tasks, concurrencyOf(ctx), (t) => streamOne(t, ctx.env, report))
}

/** Copies through the agent with xrdcp: root->file, file->root, root->root without TPC. */
export const xrootStream: CopyMethod = {
  name: 'xroot-stream',
  rank: 30,
  supports(sourceScheme, destinationScheme) {
    const s = ROOT_SCHEMES.has(sourceScheme)
    const d = ROOT_SCHEMES.has(destinationScheme)
    return (s && (d || destinationScheme === 'file')) || (sourceScheme === 'file' && d)
  },
  async run(tasks, ctx, report) {
    await streamTasks(tasks, ctx, once(report), { removeStale: true })
  },
}
