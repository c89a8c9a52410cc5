/**
 * How an xroot copy is decided: by the size and adler32 of its temporary copy, never by the tool's exit code;
 * a verified copy is then moved to its final name, a failed one removed (ARCHITECTURE.md invariants 4, 10).
 */

import { normaliseAdler32 } from '../adler32.js'
import type { CopyResult, CopyTask } from '../copy-method.js'
import { type StatResult, StorageError } from '../protocol.js'
import { mismatch } from '../verify.js'
import { rootDirname, rootFreeBytes, rootUrlString, xrootErrno } from './root-protocol.js'
import {
  ABORTED,
  type End,
  type EndOptions,
  endAdler32,
  endMove,
  endPath,
  endStat,
  removeLeftover,
  type Scope,
} from './xroot-ends.js'

export type Report = (task: CopyTask, result: CopyResult) => void

/** One file's copy: where it comes from, where it ends, and the temporary name the tool writes. */
export interface Copy {
  task: CopyTask
  src: End
  /** the final name */
  dst: End
  /** the run-unique temporary name, next to `dst` or in a batch's temporary directory */
  part: End
}

/** Wraps `report` so each task is reported once. */
export function once(report: Report): Report {
  const reported = new Set<CopyTask>()
  return (task, result) => {
    if (reported.has(task)) return
    reported.add(task)
    report(task, result)
  }
}

export function reasonOf(err: unknown, scope: Scope): string {
  if (err instanceof StorageError) return err.reason
  return `${scope} [5] ${(err as Error).message}`
}

export const timeoutReason = (ms: number): string =>
  `TRANSFER [110] Transfer timed out: xrdcp killed after ${ms / 1000} s`

/** `SCOPE [errno] line` for an xrdcp error line, the scope read from the line. */
export function copyReason(line: string, code: number | null, src: End, dst: End): string {
  let scope: Scope = 'TRANSFER'
  if (/\(destination\)/i.test(line)) scope = 'DESTINATION'
  else if (/\(source\)/i.test(line)) scope = 'SOURCE'
  else if (line.includes(endPath(dst))) scope = 'DESTINATION'
  else if (line.includes(endPath(src))) scope = 'SOURCE'
  return `${scope} [${xrootErrno(code, line)}] ${line}`
}

export const isTpcUnsupported = (reason: string): boolean =>
  /^\w+ \[95\]/.test(reason) && /tpc not supported|does not support third-party-copy/i.test(reason)

/** Null when the source's adler32 is the record's, else the failure reason. */
export async function checkSource(
  task: CopyTask,
  src: End,
  env: Record<string, string>,
): Promise<string | null> {
  try {
    const actual = await endAdler32(src, { scope: 'SOURCE', env, signal: task.signal })
    const record = normaliseAdler32(task.file.adler32)
    return actual === record ? null : mismatch.sourceChecksum(record, actual).reason
  } catch (err) {
    return task.signal.aborted ? ABORTED : reasonOf(err, 'SOURCE')
  }
}

export type Verdict =
  | { kind: 'match'; size: number; adler32: string }
  | { kind: 'missing' }
  | { kind: 'mismatch'; reason: string }
  | { kind: 'unknown'; reason: string }

/** What a batch learnt with one listing instead of one call per file. */
export interface Listed {
  /** the temporary copy's size and type from a listing of its directory (null: not in it) */
  part?: StatResult | null
  /** whether a file is at the final name, from a listing of the destination directory */
  finalExists?: () => Promise<boolean>
}

/** Compares a copy (its temporary name) with the record: the only thing that decides a file. */
export async function verifyCopy(
  task: CopyTask,
  part: End,
  env: Record<string, string>,
  listed: Listed = {},
): Promise<Verdict> {
  const o: EndOptions = { scope: 'DESTINATION', env }
  try {
    const st = listed.part !== undefined ? listed.part : await endStat(part, o)
    if (!st || st.isDirectory) return { kind: 'missing' }
    if (st.size !== task.file.size) {
      return {
        kind: 'mismatch',
        reason: mismatch.destinationSize(task.file.size, st.size).reason,
      }
    }
    const actual = await endAdler32(part, o)
    const record = normaliseAdler32(task.file.adler32)
    if (actual !== record) {
      return {
        kind: 'mismatch',
        reason: mismatch.transferChecksum(record, actual).reason,
      }
    }
    return { kind: 'match', size: st.size, adler32: actual }
  } catch (err) {
    return { kind: 'unknown', reason: reasonOf(err, 'DESTINATION') }
  }
}

/** Whether a copy may replace a file at its final name (the engine settled it before the copy). */
const mayReplace = (task: CopyTask): boolean => task.overwrite === true || task.file.ownsDestination

/**
 * Moves a verified copy to its final name and reports the file done, with what was verified (a rename keeps
 * the bytes). A file that appeared at the final name meanwhile is replaced only where the task may.
 */
export async function placeVerified(
  c: Copy,
  v: { size: number; adler32: string },
  env: Record<string, string>,
  report: Report,
  listed: Listed = {},
): Promise<void> {
  const o: EndOptions = { scope: 'DESTINATION', env }
  const finalExists = listed.finalExists ?? (async () => (await endStat(c.dst, o)) !== null)
  try {
    // `xrdfs mv` (like rename(2)) replaces an existing file without a word: ask first
    if (!mayReplace(c.task) && (await finalExists())) {
      throw new StorageError('DESTINATION', 17, 'Destination file exists and overwrite is not enabled')
    }
    await endMove(c.part, c.dst, o)
  } catch (err) {
    await removeLeftover(c.part, env)
    report(c.task, { ok: false, reason: reasonOf(err, 'DESTINATION') })
    return
  }
  report(c.task, { ok: true, bytes: v.size, verified: { size: v.size, adler32: v.adler32 } })
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

/**
 * Decides one file after its copy ended by itself: verifies the temporary copy, then moves it into place or
 * removes it. `callReason` is what the tool said, used only as the reason.
 */
export async function settle(
  c: Copy,
  callReason: string | undefined,
  env: Record<string, string>,
  report: Report,
  listed: Listed = {},
): Promise<void> {
  const { task } = c
  const v = await verifyCopy(task, c.part, env, listed)
  if (v.kind === 'match') return placeVerified(c, v, env, report, listed)
  if (v.kind !== 'missing') await removeLeftover(c.part, env)
  let reason =
    callReason ?? (v.kind === 'missing' ? 'TRANSFER [5] Destination missing after the copy' : v.reason)
  // xrdcp --cksum reports a destination that ran out of space as "CheckSum error" (rc 53): ask it for room
  const full = callReason && /CheckSum error/i.test(callReason) ? await noRoomFor(task, c.dst, env) : null
  if (full) reason = full
  else if (v.kind === 'mismatch' || /^\w+ \[5\].*checksum/i.test(reason)) {
    // was it the source that differs from what the job wrote? (a permanent failure, not a bad copy)
    const problem = await checkSource(task, c.src, env)
    if (problem?.startsWith('SOURCE [5]')) reason = problem
  }
  report(task, { ok: false, reason })
}
