/**
 * Copy methods that move files with `xrdcp` (ARCHITECTURE.md section 7, storage-lab.md section 1):
 * `xroot-tpc`, a third-party copy between two XRootD sites, batched because every xrdcp TPC call waits at
 * least 2.5 s; and `xroot-stream`, a copy through the agent for root<->file, and root->root without TPC.
 * Each file is decided by its destination's size and adler32, never by the tool's exit code.
 */
import { mkdir, stat, unlink } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Endpoint } from '../types.js'
import { normaliseAdler32 } from './adler32.js'
import { runChild } from './child-process.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from './copy-method.js'
import { type StatResult, StorageError } from './protocol.js'
import {
  errorLine,
  parseRootUrl,
  type RootUrl,
  rootAdler32,
  rootDirname,
  rootFreeBytes,
  rootMkdirs,
  rootRemove,
  rootStat,
  rootUrlString,
  xrootErrno,
} from './root-protocol.js'

export { rootProtocol } from './root-protocol.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'
type Report = (task: CopyTask, result: CopyResult) => void

const ABORTED = 'TRANSFER [125] Transfer aborted'
const ROOT_SCHEMES = new Set(['root', 'xroot'])

/** A backstop against a hung xrdcp: 10 minutes plus 1 s per MiB (the server's own limits usually act first). */
function copyTimeoutMs(bytes: number): number {
  return 600_000 + Math.ceil(bytes / 1_048_576) * 1000
}

// ---- the two kinds of end: a root:// URL or a local file ----

type End = { kind: 'root'; url: RootUrl } | { kind: 'file'; path: string }

function endOf(ep: Endpoint, scope: Scope): End {
  if (ROOT_SCHEMES.has(ep.scheme)) return { kind: 'root', url: parseRootUrl(ep.url, scope) }
  if (ep.scheme === 'file') {
    try {
      return { kind: 'file', path: fileURLToPath(ep.url) }
    } catch (err) {
      throw new StorageError(scope, 22, `Not a local file URL: ${ep.url} (${(err as Error).message})`)
    }
  }
  throw new StorageError(scope, 93, `Protocol not supported by xrdcp: ${ep.scheme}`)
}

const toolArg = (end: End): string => (end.kind === 'root' ? rootUrlString(end.url) : end.path)
const endPath = (end: End): string => (end.kind === 'root' ? end.url.path : end.path)

function fsError(scope: Scope, err: unknown): StorageError {
  const e = err as NodeJS.ErrnoException
  const errno = { ENOENT: 2, EACCES: 13, EPERM: 1, EEXIST: 17, ENOSPC: 28, EDQUOT: 122 }[e.code ?? ''] ?? 5
  return new StorageError(scope, errno, e.message)
}

interface EndOptions {
  scope: Scope
  env: Record<string, string>
  signal?: AbortSignal
}

async function endStat(end: End, o: EndOptions): Promise<StatResult | null> {
  if (end.kind === 'root') return rootStat(rootUrlString(end.url), o)
  try {
    const s = await stat(end.path)
    return { size: s.size, isDirectory: s.isDirectory() }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw fsError(o.scope, err)
  }
}

async function endAdler32(end: End, o: EndOptions): Promise<string> {
  if (end.kind === 'root') return rootAdler32(rootUrlString(end.url), o)
  // xrdadler32 caches the value in an xattr and prints "<hex> <path>"
  const r = await runChild('xrdadler32', [end.path], { env: o.env, signal: o.signal })
  const m = /^([0-9a-fA-F]{1,8})\s/.exec(r.stdout)
  if (r.code !== 0 || !m) {
    const text = r.stderr || r.stdout
    const errno = /no such file/i.test(text) ? 2 : /permission denied/i.test(text) ? 13 : 5
    throw new StorageError(o.scope, errno, errorLine(text, r.code, r.signal))
  }
  return normaliseAdler32(m[1]!)
}

async function endRemove(end: End, o: EndOptions): Promise<void> {
  if (end.kind === 'root') return rootRemove(rootUrlString(end.url), o)
  try {
    await unlink(end.path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(o.scope, err)
  }
}

/** Removes what a failed or aborted copy left at the destination. */
async function removeLeftover(dst: End, env: Record<string, string>): Promise<void> {
  try {
    await endRemove(dst, { scope: 'DESTINATION', env })
  } catch (err) {
    // the file's failure is already decided; a leftover that cannot be removed now (server down) is
    // overwritten by the next attempt (-f), and the engine's recovery removes it (invariant 10)
    process.emitWarning(`could not remove leftover destination ${toolArg(dst)}: ${(err as Error).message}`)
  }
}

// ---- reasons ----

function reasonOf(err: unknown, scope: Scope): string {
  if (err instanceof StorageError) return err.reason
  return `${scope} [5] ${(err as Error).message}`
}

/** `SCOPE [errno] line` for an xrdcp error line, the scope read from the line. */
function copyReason(line: string, code: number | null, src: End, dst: End): string {
  let scope: Scope = 'TRANSFER'
  if (/\(destination\)/i.test(line)) scope = 'DESTINATION'
  else if (/\(source\)/i.test(line)) scope = 'SOURCE'
  else if (line.includes(endPath(dst))) scope = 'DESTINATION'
  else if (line.includes(endPath(src))) scope = 'SOURCE'
  return `${scope} [${xrootErrno(code, line)}] ${line}`
}

const isTpcUnsupported = (reason: string): boolean =>
  /^\w+ \[95\]/.test(reason) && /tpc not supported|does not support third-party-copy/i.test(reason)

function sourceMismatch(record: string, actual: string): string {
  return `SOURCE [5] Source and user-defined ADLER32 checksum do not match (${record} != ${actual})`
}

/** Null when the source's adler32 is the record's, else the failure reason. */
async function checkSource(task: CopyTask, src: End, env: Record<string, string>): Promise<string | null> {
  try {
    const actual = await endAdler32(src, { scope: 'SOURCE', env, signal: task.signal })
    const record = normaliseAdler32(task.file.adler32)
    return actual === record ? null : sourceMismatch(record, actual)
  } catch (err) {
    return task.signal.aborted ? ABORTED : reasonOf(err, 'SOURCE')
  }
}

type Verdict =
  | { kind: 'match'; size: number; adler32: string }
  | { kind: 'missing' }
  | { kind: 'mismatch'; reason: string }
  | { kind: 'unknown'; reason: string }

/** Compares the destination with the record: the only thing that decides a file. */
async function verifyDestination(task: CopyTask, dst: End, env: Record<string, string>): Promise<Verdict> {
  const o: EndOptions = { scope: 'DESTINATION', env }
  try {
    const st = await endStat(dst, o)
    if (!st || st.isDirectory) return { kind: 'missing' }
    if (st.size !== task.file.size) {
      return {
        kind: 'mismatch',
        reason: `DESTINATION [22] Source and destination file size mismatch (${task.file.size} != ${st.size})`,
      }
    }
    const actual = await endAdler32(dst, o)
    const record = normaliseAdler32(task.file.adler32)
    if (actual !== record) {
      return {
        kind: 'mismatch',
        reason: `TRANSFER [5] TRANSFER CHECKSUM MISMATCH Source and destination checksums do not match ${record} != ${actual}`,
      }
    }
    return { kind: 'match', size: st.size, adler32: actual }
  } catch (err) {
    return { kind: 'unknown', reason: reasonOf(err, 'DESTINATION') }
  }
}

/** `DESTINATION [28] ...` when the destination's space has less room than the file needs; null otherwise. */
async function noRoomFor(task: CopyTask, dst: End, env: Record<string, string>): Promise<string | null> {
  if (dst.kind !== 'root') return null
  const dir = rootDirname(dst.url)
  try {
    const free = await rootFreeBytes(rootUrlString(dir), { scope: 'DESTINATION', env })
    if (free >= task.file.size) return null
    return `DESTINATION [28] No space left on device: ${free} bytes free in ${dir.path}, ${task.file.size} needed`
  } catch (err) {
    // a server that cannot say leaves the tool's own reason standing
    void err
    return null
  }
}

/** Reports one file from its destination; `callReason` is what the tool said, used only as the reason. */
async function settle(
  task: CopyTask,
  src: End,
  dst: End,
  callReason: string | undefined,
  env: Record<string, string>,
  report: Report,
): Promise<void> {
  const v = await verifyDestination(task, dst, env)
  if (v.kind === 'match') {
    report(task, { ok: true, bytes: v.size, verified: { size: v.size, adler32: v.adler32 } })
    return
  }
  if (v.kind === 'mismatch') await removeLeftover(dst, env)
  let reason =
    callReason ?? (v.kind === 'missing' ? 'TRANSFER [5] Destination missing after the copy' : v.reason)
  // xrdcp --cksum reports a destination that ran out of space as "CheckSum error" (rc 53): ask it for room
  const full = callReason && /CheckSum error/i.test(callReason) ? await noRoomFor(task, dst, env) : null
  if (full) reason = full
  else if (v.kind === 'mismatch' || /^\w+ \[5\].*checksum/i.test(reason)) {
    // was it the source that differs from what the job wrote? (a permanent failure, not a bad copy)
    const problem = await checkSource(task, src, env)
    if (problem?.startsWith('SOURCE [5]')) reason = problem
  }
  report(task, { ok: false, reason })
}

// ---- scheduling helpers ----

/** Runs `fn` over `items`, at most `limit` at a time. */
async function eachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** A counting semaphore, first come first served, so a batch that needs many slots is not starved. */
class Slots {
  private free: number
  private readonly waiting: { n: number; resolve: () => void }[] = []

  constructor(capacity: number) {
    this.free = capacity
  }

  async take(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.free >= n) {
      this.free -= n
      return
    }
    await new Promise<void>((resolve) => this.waiting.push({ n, resolve }))
  }

  give(n: number): void {
    this.free += n
    for (let w = this.waiting[0]; w && this.free >= w.n; w = this.waiting[0]) {
      this.free -= w.n
      this.waiting.shift()
      w.resolve()
    }
  }
}

function concurrencyOf(ctx: CopyContext): number {
  return Math.max(1, Math.floor(ctx.concurrency))
}

/** Wraps `report` so each task is reported once. */
function once(report: Report): Report {
  const reported = new Set<CopyTask>()
  return (task, result) => {
    if (reported.has(task)) return
    reported.add(task)
    report(task, result)
  }
}

// ---- xroot-stream ----

async function streamOne(task: CopyTask, env: Record<string, string>, report: Report): Promise<void> {
  if (task.signal.aborted) return report(task, { ok: false, reason: ABORTED })
  let src: End
  let dst: End
  try {
    src = endOf(task.source, 'SOURCE')
    dst = endOf(task.destination, 'DESTINATION')
    if (dst.kind === 'file') {
      await mkdir(path.dirname(dst.path), { recursive: true }).catch((err: unknown) => {
        throw fsError('DESTINATION', err)
      })
    }
  } catch (err) {
    return report(task, { ok: false, reason: reasonOf(err, 'TRANSFER') })
  }
  // --posc: the server drops a root:// destination the client did not close (agent killed mid-copy)
  const args = [
    '--nopbar',
    '-f',
    '--cksum',
    `adler32:${normaliseAdler32(task.file.adler32)}`,
    '--rm-bad-cksum',
  ]
  if (dst.kind === 'root') args.push('--posc')
  const timeoutMs = copyTimeoutMs(task.file.size)
  const r = await runChild('xrdcp', [...args, toolArg(src), toolArg(dst)], {
    signal: task.signal,
    env,
    timeoutMs,
  })
  if (r.aborted) {
    await removeLeftover(dst, env)
    return report(task, { ok: false, reason: ABORTED })
  }
  let callReason: string | undefined
  if (r.timedOut) callReason = `TRANSFER [110] Transfer timed out: xrdcp killed after ${timeoutMs / 1000} s`
  else if (r.code !== 0) callReason = copyReason(errorLine(r.stderr, r.code, r.signal), r.code, src, dst)
  await settle(task, src, dst, callReason, env, report)
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
    const reportOnce = once(report)
    await eachLimit(tasks, concurrencyOf(ctx), (t) => streamOne(t, ctx.env, reportOnce))
  },
}

// ---- xroot-tpc ----

interface Planned {
  task: CopyTask
  src: RootUrl
  dst: RootUrl
}

interface TpcRun {
  env: Record<string, string>
  slots: Slots
  limit: number
  report: Report
  /** files whose destination (or source) refused TPC: they go to xroot-stream */
  fallback: CopyTask[]
}

const rootEnd = (url: RootUrl): End => ({ kind: 'root', url })

/** Decides (or falls back) one file after an xrdcp call that ended by itself. */
async function settleTpc(p: Planned, callReason: string | undefined, run: TpcRun): Promise<void> {
  if (callReason && isTpcUnsupported(callReason)) {
    run.fallback.push(p.task)
    return
  }
  await settle(p.task, rootEnd(p.src), rootEnd(p.dst), callReason, run.env, run.report)
}

async function tpcSingle(p: Planned, run: TpcRun): Promise<void> {
  await run.slots.take(1)
  try {
    if (p.task.signal.aborted) return run.report(p.task, { ok: false, reason: ABORTED })
    const timeoutMs = copyTimeoutMs(p.task.file.size)
    const args = [
      '--nopbar',
      '--tpc',
      'only',
      '-f',
      '--cksum',
      `adler32:${normaliseAdler32(p.task.file.adler32)}`,
    ]
    const r = await runChild('xrdcp', [...args, rootUrlString(p.src), rootUrlString(p.dst)], {
      signal: p.task.signal,
      env: run.env,
      timeoutMs,
    })
    if (r.aborted) {
      await removeLeftover(rootEnd(p.dst), run.env)
      return run.report(p.task, { ok: false, reason: ABORTED })
    }
    let callReason: string | undefined
    if (r.timedOut) callReason = `TRANSFER [110] Transfer timed out: xrdcp killed after ${timeoutMs / 1000} s`
    else if (r.code !== 0) {
      callReason = copyReason(errorLine(r.stderr, r.code, r.signal), r.code, rootEnd(p.src), rootEnd(p.dst))
    }
    await settleTpc(p, callReason, run)
  } finally {
    run.slots.give(1)
  }
}

/**
 * One `xrdcp --parallel N` call for files that share a destination directory and keep their basenames.
 * The call reports one exit code; each line `Job #k: ...` is the k-th source's error.
 */
async function tpcBatch(batch: Planned[], run: TpcRun): Promise<void> {
  let again: Planned[] = []
  await run.slots.take(batch.length)
  try {
    again = await tpcBatchCall(batch, run)
  } finally {
    run.slots.give(batch.length)
  }
  if (again.length > 0) await tpcPlanned(again, run)
}

/** Runs one batch call and reports its files; returns the files to copy again (stopped by another's abort). */
async function tpcBatchCall(batch: Planned[], run: TpcRun): Promise<Planned[]> {
  const live = batch.filter((p) => {
    if (p.task.signal.aborted) run.report(p.task, { ok: false, reason: ABORTED })
    return !p.task.signal.aborted
  })
  if (live.length === 0) return []
  const dir: RootUrl = { server: live[0]!.dst.server, path: path.posix.dirname(live[0]!.dst.path) }
  try {
    await rootMkdirs(rootUrlString(dir), { scope: 'DESTINATION', env: run.env })
  } catch (err) {
    for (const p of live) run.report(p.task, { ok: false, reason: reasonOf(err, 'DESTINATION') })
    return []
  }
  // killing the call is the only way to stop one of its files: it stops them all
  const kill = new AbortController()
  const aborted = new Set<Planned>()
  const listeners = live.map((p) => {
    const onAbort = (): void => {
      aborted.add(p)
      kill.abort()
    }
    p.task.signal.addEventListener('abort', onAbort, { once: true })
    return () => p.task.signal.removeEventListener('abort', onAbort)
  })
  const timeoutMs = copyTimeoutMs(live.reduce((sum, p) => sum + p.task.file.size, 0))
  const args = ['--nopbar', '--tpc', 'only', '--parallel', String(live.length), '-f', '--cksum', 'adler32']
  const sources = live.map((p) => rootUrlString(p.src))
  const r = await runChild('xrdcp', [...args, ...sources, `${rootUrlString(dir)}/`], {
    signal: kill.signal,
    env: run.env,
    timeoutMs,
  }).finally(() => {
    for (const remove of listeners) remove()
  })

  if (r.aborted) {
    const again: Planned[] = []
    await eachLimit(live, run.limit, async (p) => {
      if (aborted.has(p)) {
        await removeLeftover(rootEnd(p.dst), run.env)
        run.report(p.task, { ok: false, reason: ABORTED })
        return
      }
      // stopped because another file of the call was aborted: keep it if it made it, else copy it again
      const v = await verifyDestination(p.task, rootEnd(p.dst), run.env)
      if (v.kind === 'match') {
        run.report(p.task, { ok: true, bytes: v.size, verified: { size: v.size, adler32: v.adler32 } })
      } else again.push(p)
    })
    return again
  }

  const perJob = new Map<number, string>()
  let general: string | undefined
  for (const line of r.stderr.split('\n')) {
    const job = /^Job #(\d+):\s*(.*)$/.exec(line.trim())
    if (job) perJob.set(Number(job[1]), job[2]!)
    else if (/\[(ERROR|FATAL)\]/.test(line)) general = line
  }
  await eachLimit(live, run.limit, async (p) => {
    let callReason: string | undefined
    if (r.timedOut) callReason = `TRANSFER [110] Transfer timed out: xrdcp killed after ${timeoutMs / 1000} s`
    else {
      const own = perJob.get(live.indexOf(p) + 1)
      const line = own ?? general ?? (r.code === 0 ? undefined : errorLine(r.stderr, r.code, r.signal))
      if (line !== undefined) {
        callReason = copyReason(errorLine(line, r.code, r.signal), r.code, rootEnd(p.src), rootEnd(p.dst))
      }
    }
    await settleTpc(p, callReason, run)
  })
  return []
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
    await eachLimit(
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
    await tpcPlanned(
      planned.filter((p): p is Planned => p !== null),
      run,
    )
    if (run.fallback.length > 0) await xrootStream.run(run.fallback, ctx, reportOnce)
  },
}

/** The xrdcp copy methods, best first. */
export function xrootMethods(): CopyMethod[] {
  return [xrootTpc, xrootStream]
}
