/**
 * Bulk status (docs/fts3-rest.md §1, §6, §7): `GET /jobs/a,b,…?files=…` for up to 100 jobs of one credential;
 * 200 and 207 both carry a list whose entries are matched by `job_id`, never by position; a 404 entry is looked
 * up in `/archive/{id}` before it counts as missing; a 403 entry is another credential's job, never a lost one.
 * Then each job's files become outcomes: FINISHED done, FAILED failed with FTS's reason and verdict, CANCELED
 * killed (or failed, when FTS cancelled it for a reason of its own), and a file still in flight inside a
 * finished job failed as "stuck inside FTS".
 */

import type { FileOutcome } from '../../domain/outcome.js'
import type { EngineJobStatus } from '../types.js'
import { type ClientAuth, type Fts3Client, httpError } from './client.js'
import { entryStatus, errorMessageOf, Fts3HttpError } from './errors.js'
import {
  type FtsFile,
  type FtsJob,
  fileTag,
  ftsTimeMs,
  RUNNING_JOB_STATES,
  STATUS_FILE_FIELDS,
  TERMINAL_JOB_STATES,
} from './wire.js'

export type JobLookup =
  | { kind: 'found'; job: FtsJob; archived: boolean }
  /** neither live nor archived on this server */
  | { kind: 'missing' }
  /** another credential's job: says nothing about whether it exists */
  | { kind: 'forbidden'; message: string }
  /** no conclusion (server trouble, an odd answer) */
  | { kind: 'error'; message: string }

/** Bulk ids per call, as Rucio asks (the URL stays short). */
export const STATUS_BATCH = 100

/** Looks up to 100 jobs of one credential on one server; throws when the call as a whole failed. */
export async function lookupJobs(
  client: Fts3Client,
  server: string,
  auth: ClientAuth,
  ids: readonly string[],
): Promise<Map<string, JobLookup>> {
  if (ids.length > STATUS_BATCH) throw new Error(`at most ${STATUS_BATCH} jobs per status call`)
  const out = new Map<string, JobLookup>()
  if (ids.length === 0) return out
  // a trailing comma keeps one id in list mode, so every answer is a list
  const list = `${ids.map(encodeURIComponent).join(',')}${ids.length === 1 ? ',' : ''}`
  const answer = await client.call(server, auth, 'GET', `/jobs/${list}?files=${STATUS_FILE_FIELDS.join(',')}`)
  let entries: FtsJob[]
  if ((answer.status === 200 || answer.status === 207) && Array.isArray(answer.json)) {
    entries = answer.json as FtsJob[]
  } else if (answer.status < 300 && isObject(answer.json)) {
    entries = [answer.json as FtsJob]
  } else if (answer.status === 404 && isObject(answer.json) && ids.length === 1) {
    // a server that answered in single mode after all
    entries = [{ job_id: ids[0], ...(answer.json as FtsJob), http_status: '404 Not Found' }]
  } else {
    throw httpError(answer, `GET ${server}/jobs/${ids.length} ids`)
  }
  const archive: string[] = []
  const wanted = new Set(ids)
  for (const e of entries) {
    const id = typeof e.job_id === 'string' ? e.job_id : ''
    if (!wanted.has(id)) continue
    const code = e.http_status === undefined ? 200 : entryStatus(e.http_status)
    if (code >= 200 && code < 300 && typeof e.job_state === 'string')
      out.set(id, { kind: 'found', job: e, archived: false })
    else if (code === 404) archive.push(id)
    else if (code === 403) out.set(id, { kind: 'forbidden', message: e.http_message ?? '403' })
    else out.set(id, { kind: 'error', message: `${e.http_status ?? '?'}: ${e.http_message ?? ''}` })
  }
  await Promise.all(archive.map(async (id) => out.set(id, await lookupArchive(client, server, auth, id))))
  for (const id of ids) if (!out.has(id)) out.set(id, { kind: 'error', message: 'no entry in the answer' })
  return out
}

/** `GET /archive/{id}`: a finished job purged from the live tables, with all its files. */
export async function lookupArchive(
  client: Fts3Client,
  server: string,
  auth: ClientAuth,
  id: string,
): Promise<JobLookup> {
  const answer = await client.call(server, auth, 'GET', `/archive/${encodeURIComponent(id)}`)
  if (answer.status === 200 && isObject(answer.json))
    return { kind: 'found', job: answer.json as FtsJob, archived: true }
  const { message } = errorMessageOf(answer.text, answer.json)
  if (answer.status === 404) return { kind: 'missing' }
  if (answer.status === 403) return { kind: 'forbidden', message }
  if (answer.status >= 500)
    throw new Fts3HttpError(answer.status, message, 'text', `GET ${server}/archive/${id}`)
  return { kind: 'error', message: `${answer.status}: ${message}` }
}

/** One file that FTS says is done, with what to check at its destination when FTS did not check it. */
export interface DoneFile {
  outcome: FileOutcome
  destination: string | null
  size: number | null
  adler32: string | null
}

export interface MappedStatus {
  status: EngineJobStatus
  /** the done outcomes among `status.files`, with their destinations */
  done: DoneFile[]
  /** transfer id → FTS file id, for per-file cancels */
  fileIds: Map<string, number>
}

const USER_CANCEL = /canceled by the user/i

function userChecksum(checksum: unknown): string | null {
  const m = /^adler32:([0-9a-f]{1,8})$/i.exec(String(checksum ?? ''))
  return m ? m[1]!.toLowerCase().padStart(8, '0') : null
}

function outcomeOf(jobId: string, f: FtsFile, jobState: string): FileOutcome | 'pending' | null {
  const tag = fileTag(f.file_metadata)
  if (!tag) return null
  const base = {
    jobId,
    transferId: tag.transferId,
    attempt: tag.attempt,
    method: 'fts3',
    ...(f.file_id === undefined ? {} : { engineFileId: String(f.file_id) }),
  }
  const state = f.file_state ?? ''
  if (state === 'FINISHED') {
    return {
      ...base,
      result: 'done',
      reason: 'copied by FTS, checksums verified',
      ...(typeof f.filesize === 'number' ? { bytes: f.filesize } : {}),
      ...(typeof f.tx_duration === 'number' ? { durationMs: Math.round(f.tx_duration * 1000) } : {}),
    }
  }
  if (state === 'FAILED') {
    return {
      ...base,
      result: 'failed',
      reason: f.reason || 'TRANSFER [5] FTS marked the file FAILED without a reason',
      ...(typeof f.recoverable === 'boolean' ? { recoverable: f.recoverable } : {}),
    }
  }
  if (state === 'CANCELED') {
    const reason = f.reason || 'Job canceled by the user'
    // FTS cancels by itself too (queue timeout, staging timeout): those are failures for the classifier
    return USER_CANCEL.test(reason)
      ? { ...base, result: 'killed', reason }
      : { ...base, result: 'failed', reason }
  }
  if (TERMINAL_JOB_STATES.has(jobState)) {
    return {
      ...base,
      result: 'failed',
      reason: `TRANSFER [5] stuck inside FTS: the file is still ${state || 'without a state'} in a ${jobState} job`,
    }
  }
  return 'pending'
}

/** A job object as the engine's status: terminal outcomes, pending files, state, last progress. */
export function mapJob(jobId: string, job: FtsJob): MappedStatus {
  const jobState = job.job_state ?? ''
  const files: FileOutcome[] = []
  const done: DoneFile[] = []
  const pending: string[] = []
  const fileIds = new Map<string, number>()
  let lastProgressAt = ftsTimeMs(job.submit_time) ?? 0
  for (const f of job.files ?? []) {
    for (const t of [f.start_time, f.finish_time])
      lastProgressAt = Math.max(lastProgressAt, ftsTimeMs(t) ?? 0)
    const o = outcomeOf(jobId, f, jobState)
    if (o === null) continue
    const tag = fileTag(f.file_metadata)!
    if (typeof f.file_id === 'number') fileIds.set(tag.transferId, f.file_id)
    if (o === 'pending') {
      pending.push(tag.transferId)
      continue
    }
    files.push(o)
    if (o.result === 'done') {
      done.push({
        outcome: o,
        destination: f.dest_surl ?? null,
        size: typeof f.user_filesize === 'number' ? f.user_filesize : null,
        adler32: userChecksum(f.checksum),
      })
    }
  }
  const finished = TERMINAL_JOB_STATES.has(jobState) && pending.length === 0
  const state = finished ? 'finished' : RUNNING_JOB_STATES.has(jobState) ? 'active' : 'queued'
  return {
    status: { jobId, state, files, pending, ...(lastProgressAt > 0 ? { lastProgressAt } : {}) },
    done,
    fileIds,
  }
}

function isObject(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}
