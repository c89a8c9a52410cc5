/**
 * `xroot-tpc`: third-party copy between two XRootD sites (ARCHITECTURE.md section 7, docs/storage-notes.md §1),
 * batched because every xrdcp TPC call waits at least 2.5 s. Each copy is written to a run-unique temporary
 * name, verified there (size and adler32, never the tool's exit code) and only then moved to its final name.
 */
import path from 'node:path'
import { normaliseAdler32 } from '../adler32.js'
import { runChild } from '../child-process.js'
import type { CopyMethod } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { errorLine, parseRootUrl, type RootUrl, rootUrlString } from './root-protocol.js'
import { Slots } from './slots.js'
import { fallsBack, type Planned, runBatch, type TpcRun } from './xroot-batch.js'
import {
  ABORTED,
  copyTimeoutMs,
  partOf,
  ROOT_SCHEMES,
  removeLeftover,
  rootEnd,
  toolArg,
} from './xroot-ends.js'
import { removeStaleParts } from './xroot-leftovers.js'
import { checkSource, copyReason, once, reasonOf, settle, timeoutReason } from './xroot-settle.js'
import { concurrencyOf, streamTasks } from './xroot-stream.js'

async function tpcSingle(p: Planned, run: TpcRun): Promise<void> {
  await run.slots.take(1)
  try {
    if (p.task.signal.aborted) return run.report(p.task, { ok: false, reason: ABORTED })
    const src = rootEnd(p.src)
    const dst = rootEnd(p.dst)
    const part = partOf(dst)
    const timeoutMs = copyTimeoutMs(p.task.file.size)
    // no -f: the temporary name is new, and two writers must never share one file
    const args = ['--nopbar', '--tpc', 'only', '--cksum', `adler32:${normaliseAdler32(p.task.file.adler32)}`]
    const r = await runChild('xrdcp', [...args, rootUrlString(p.src), toolArg(part)], {
      signal: p.task.signal,
      env: run.env,
      timeoutMs,
    })
    if (r.aborted) {
      await removeLeftover(part, run.env)
      return run.report(p.task, { ok: false, reason: ABORTED })
    }
    let callReason: string | undefined
    if (r.timedOut) callReason = timeoutReason(timeoutMs)
    else if (r.code !== 0) callReason = copyReason(errorLine(r.stderr, r.code, r.signal), r.code, src, part)
    // a refused TPC wrote nothing, but a destination that opened the file first may have left it empty
    if (fallsBack(p, callReason, run)) return removeLeftover(part, run.env)
    await settle({ task: p.task, src, dst, part }, callReason, run.env, run.report)
  } finally {
    run.slots.give(1)
  }
}

/** One batch call in as many slots as it has files; the files it stopped before they were complete go again. */
async function tpcBatch(batch: Planned[], run: TpcRun): Promise<void> {
  let again: Planned[] = []
  await run.slots.take(batch.length)
  try {
    again = await runBatch(batch, run)
  } finally {
    run.slots.give(batch.length)
  }
  if (again.length > 0) await tpcPlanned(again, run)
}

/** Splits files into batches (same destination directory, same basename) and single calls, and runs them. */
async function tpcPlanned(planned: Planned[], run: TpcRun): Promise<void> {
  const groups = new Map<string, Planned[]>()
  const singles: Planned[] = []
  for (const p of planned) {
    const base = path.posix.basename(p.dst.path)
    if (base !== path.posix.basename(p.src.path)) {
      singles.push(p)
      continue
    }
    const key = `${p.dst.server}\u0000${path.posix.dirname(p.dst.path)}`
    const group = groups.get(key) ?? []
    // two files with one target name cannot share a call
    if (group.some((q) => path.posix.basename(q.dst.path) === base)) singles.push(p)
    else groups.set(key, [...group, p])
  }
  const batches: Planned[][] = []
  for (const group of groups.values()) {
    if (group.length === 1) singles.push(group[0]!)
    else for (let i = 0; i < group.length; i += run.limit) batches.push(group.slice(i, i + run.limit))
  }
  // a chunk of one is a single call too
  const [multi, lone] = [batches.filter((b) => b.length > 1), batches.filter((b) => b.length === 1)]
  singles.push(...lone.flat())
  await Promise.all([...multi.map((b) => tpcBatch(b, run)), ...singles.map((p) => tpcSingle(p, run))])
}

/** Third-party copy between two XRootD sites. */
export const xrootTpc: CopyMethod = {
  name: 'xroot-tpc',
  rank: 20,
  thirdParty: true,
  supports(sourceScheme, destinationScheme) {
    return ROOT_SCHEMES.has(sourceScheme) && ROOT_SCHEMES.has(destinationScheme)
  },
  async run(tasks, ctx, report) {
    const reportOnce = once(report)
    const limit = concurrencyOf(ctx)
    const run: TpcRun = { env: ctx.env, slots: new Slots(limit), limit, report: reportOnce, fallback: [] }
    // a source that is not what the job wrote fails before any copy; the checks keep the tasks' order
    const planned: (Planned | null)[] = tasks.map(() => null)
    const checks = eachLimit(
      tasks.map((task, i) => ({ task, i })),
      limit,
      async ({ task, i }) => {
        if (task.signal.aborted) return reportOnce(task, { ok: false, reason: ABORTED })
        let src: RootUrl
        let dst: RootUrl
        try {
          src = parseRootUrl(task.source.url, 'SOURCE')
          dst = parseRootUrl(task.destination.url, 'DESTINATION')
        } catch (err) {
          return reportOnce(task, { ok: false, reason: reasonOf(err, 'TRANSFER') })
        }
        const problem = await checkSource(task, rootEnd(src), ctx.env)
        if (problem) return reportOnce(task, { ok: false, reason: problem })
        planned[i] = { task, src, dst }
      },
    )
    // meanwhile, what earlier runs of the files we own left at the destination goes
    await Promise.all([checks, removeStaleParts(tasks, ctx.env)])
    await tpcPlanned(
      planned.filter((p): p is Planned => p !== null),
      run,
    )
    if (run.fallback.length > 0) await streamTasks(run.fallback, ctx, reportOnce, { removeStale: false })
  },
}
