/**
 * Submitting one engine job to one FTS3 server (docs/fts3-rest.md §2, §7): the job JSON (deterministic id from
 * our sid, every file's adler32, end-to-end verification, no FTS retries since ASO owns them, a queue limit
 * with its unit), and what each answer means: 409 on our sid is our job already there (adopt it), 419 asks for
 * a delegation (delegate, then try once more), 5xx means it was not created, no answer means we cannot know.
 */

import type { Endpoint } from '../../domain/endpoint.js'
import { batchSid } from '../../domain/ids.js'
import { type EngineJob, EngineSubmitError } from '../types.js'
import { type Fts3Client, httpError } from './client.js'
import { clientAuth, type UserCredential } from './credentials.js'
import type { Delegator } from './delegation.js'
import { Fts3HttpError, Fts3UnreachableError } from './errors.js'
import { fileMetadata, jobMetadata } from './wire.js'

export interface SubmitSettings {
  /** this deployment's name (job_metadata.instance) */
  instance: string
  verifyChecksum: 'both' | 'target' | 'source' | 'none'
  /** overwrite destination files ASO did not write */
  overwrite: boolean
  /** 1..5; absent: the job's own priority (its files' highest) */
  priority?: number
  maxTimeInQueueMs: number
}

/** The sid of a job: the batch hash of its members, as the claim computed it (domain/ids.ts batchSid). */
export function sidOf(job: EngineJob): string {
  return batchSid(job.files.map((f) => ({ id: f.transferId, attempt: f.attempt, submissions: f.submission })))
}

/** The URL FTS gets for one end: the site's first endpoint it can reach (never file://). */
export function endpointFor(endpoints: readonly Endpoint[]): Endpoint | undefined {
  return endpoints.find((e) => e.scheme !== 'file')
}

/** The body of `POST /jobs`; throws a non-retryable EngineSubmitError for a site FTS cannot reach. */
export function submissionBody(job: EngineJob, sid: string, s: SubmitSettings): Record<string, unknown> {
  const files = job.files.map((f) => {
    const source = endpointFor(f.sources)
    const destination = endpointFor(f.destinations)
    if (!source || !destination) {
      const site = source ? job.destination : job.source
      throw new EngineSubmitError(
        `site ${site} has no endpoint FTS can reach`,
        false,
        `TRANSFER [93] site ${site} offers FTS no protocol it can use (only file://): give it a root, davs or https endpoint`,
      )
    }
    return {
      sources: [source.url],
      destinations: [destination.url],
      checksum: `adler32:${f.adler32}`,
      filesize: f.size,
      activity: f.activity,
      metadata: fileMetadata(f.transferId, f.attempt, f.submission),
    }
  })
  const task = job.files[0]?.task ?? ''
  return {
    files,
    params: {
      verify_checksum: s.verifyChecksum,
      // ASO's own earlier copies may always be replaced (invariant 10); others only if the operator says so
      overwrite: s.overwrite || job.files.every((f) => f.ownsDestination),
      // -1: no FTS-side retries, ASO counts attempts itself (0 would mean the server's default)
      retry: -1,
      // a bare number would be hours: always say the unit
      max_time_in_queue: `${Math.max(1, Math.ceil(s.maxTimeInQueueMs / 1000))}s`,
      priority: Math.min(5, Math.max(1, s.priority ?? job.priority)),
      job_metadata: jobMetadata(s.instance, job.user, task),
      id_generator: 'deterministic',
      sid,
    },
  }
}

export type SubmitResult = 'created' | 'adopted'

type PostDeps = {
  client: Fts3Client
  delegator: Delegator
  onServerTrouble(server: string, why: string): void
}

/** Delegation before a submission: a failure creates no job, so it is only "try again later". */
async function delegate(
  deps: PostDeps,
  server: string,
  user: string,
  cred: Extract<UserCredential, { kind: 'proxy' }>,
  force: boolean,
): Promise<void> {
  try {
    await deps.delegator.ensure(server, user, cred, force)
  } catch (err) {
    const trouble = err instanceof Fts3UnreachableError || (err instanceof Fts3HttpError && err.serverSide)
    if (trouble) deps.onServerTrouble(server, (err as Error).message)
    const why = `delegating ${user}'s proxy to ${server} failed: ${(err as Error).message}`
    throw new EngineSubmitError(why, true, `TRANSFER [13] ${why}`)
  }
}

/** The server made the job under another id than ours (its VO id changed since whoami): not ours to keep. */
export class StrayJobError extends Error {
  constructor(
    readonly server: string,
    readonly strayJobId: string,
    readonly expectedJobId: string,
  ) {
    super(`${server} created job ${strayJobId} where ${expectedJobId} was expected (its VO id changed?)`)
    this.name = 'StrayJobError'
  }
}

/** A submission whose fate is unknown (no answer after the request left): leave it to the reaper. */
export function inDoubt(jobId: string, why: string): EngineSubmitError {
  return new EngineSubmitError(
    `job ${jobId}: ${why}; its fate is unknown, it is looked up again later`,
    true,
    undefined,
    {
      inDoubt: true,
    },
  )
}

/**
 * Posts `body` (the job `jobId`) to `server`: resolves created or adopted, throws EngineSubmitError (retryable:
 * not created, try again later; inDoubt: may exist, do not resubmit under a new id).
 */
export async function postJob(
  deps: PostDeps,
  server: string,
  user: string,
  cred: UserCredential,
  jobId: string,
  body: Record<string, unknown>,
): Promise<SubmitResult> {
  const auth = clientAuth(cred)
  if (cred.kind === 'proxy') await delegate(deps, server, user, cred, false)
  let delegatedAgain = false
  let triedAgain = false
  for (;;) {
    let answer: Awaited<ReturnType<Fts3Client['call']>>
    try {
      answer = await deps.client.call(server, auth, 'POST', '/jobs', { json: body })
    } catch (err) {
      if (!(err instanceof Fts3UnreachableError)) throw err
      deps.onServerTrouble(server, err.message)
      if (!err.mayHaveArrived) throw new EngineSubmitError(err.message, true, `TRANSFER [111] ${err.message}`)
      // the same sid again is safe: at worst the server answers 409 for the job it did create
      if (!triedAgain) {
        triedAgain = true
        continue
      }
      throw inDoubt(jobId, err.message)
    }
    if (answer.status === 200 || answer.status === 201) {
      const created = (answer.json as { job_id?: unknown } | undefined)?.job_id
      if (created !== jobId) {
        throw new StrayJobError(server, String(created), jobId)
      }
      return 'created'
    }
    const err = httpError(answer, `POST ${server}/jobs`)
    if (answer.status === 409 && /\bsid\b/i.test(err.ftsMessage)) return 'adopted'
    if (answer.status === 419 && cred.kind === 'proxy' && !delegatedAgain) {
      delegatedAgain = true
      deps.delegator.forget(server, cred)
      await delegate(deps, server, user, cred, true)
      continue
    }
    if (answer.status === 419)
      throw new EngineSubmitError(err.message, true, `TRANSFER [13] ${err.ftsMessage}`)
    if (answer.status >= 500) {
      deps.onServerTrouble(server, err.message)
      throw new EngineSubmitError(err.message, true, `TRANSFER [5] ${err.message}`)
    }
    if (answer.status === 409) {
      throw new EngineSubmitError(
        err.message,
        false,
        `DESTINATION [17] FTS refused the job: ${err.ftsMessage}`,
      )
    }
    if (answer.status === 401 || answer.status === 403) {
      throw new EngineSubmitError(err.message, false, `TRANSFER [13] FTS refused the job: ${err.ftsMessage}`)
    }
    throw new EngineSubmitError(
      err.message,
      false,
      `TRANSFER [22] FTS refused the job (${answer.status}): ${err.ftsMessage}`,
    )
  }
}
