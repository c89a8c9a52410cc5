/**
 * Finds jobs on their servers, in bulk: calls are grouped per (server, user credential) and cut into lists of
 * 100. A job whose server is known is asked there only: missing there (and from its archive) means lost. A job
 * whose server is not known (this agent did not submit it) is asked on each server of its link in turn, and is
 * lost only if every one of them answered that it has no such job. A 403, a 5xx or no answer decides nothing.
 */

import type { Fts3Client } from './client.js'
import { type CredentialSource, clientAuth } from './credentials.js'
import { Fts3HttpError, Fts3UnreachableError } from './errors.js'
import type { KnownJob } from './job-owners.js'
import type { ServerPool } from './servers.js'
import { type JobLookup, lookupJobs, STATUS_BATCH } from './status.js'
import type { FtsJob } from './wire.js'

export interface FindDeps {
  client: Fts3Client
  pool: ServerPool
  credentials: CredentialSource
}

export interface FoundJobs {
  found: Map<string, { server: string; job: FtsJob; archived: boolean }>
  /** no server of the job has it, live or archived */
  lost: Set<string>
  /** no conclusion this time, and why */
  undecided: Map<string, string>
}

interface Search {
  jobId: string
  user: string
  /** servers still to ask, in order */
  servers: string[]
  /** some server could not say: never conclude lost */
  unsure: boolean
}

/** Whether an error is the server's trouble (5xx, no answer): it is then avoided for a while. */
export function serverTrouble(err: unknown): boolean {
  return err instanceof Fts3UnreachableError || (err instanceof Fts3HttpError && err.serverSide)
}

export async function findJobs(
  deps: FindDeps,
  jobs: readonly { jobId: string; known: KnownJob }[],
): Promise<FoundJobs> {
  const out: FoundJobs = { found: new Map(), lost: new Set(), undecided: new Map() }
  let round: Search[] = jobs.map(({ jobId, known }) => ({
    jobId,
    user: known.owner.user,
    servers: known.server
      ? [known.server]
      : deps.pool.candidates(known.owner.source, known.owner.destination),
    unsure: false,
  }))
  while (round.length > 0) {
    const next: Search[] = []
    const groups = new Map<string, Search[]>()
    for (const s of round) {
      if (s.servers.length === 0) {
        if (s.unsure) out.undecided.set(s.jobId, out.undecided.get(s.jobId) ?? 'no server could say')
        else out.lost.add(s.jobId)
        continue
      }
      const key = `${s.servers[0]}\0${s.user}`
      groups.set(key, [...(groups.get(key) ?? []), s])
    }
    for (const group of groups.values()) {
      const server = group[0]!.servers[0]!
      const lookup = await deps.credentials.forUser(group[0]!.user, 'read')
      if (!lookup.ok) {
        for (const s of group) out.undecided.set(s.jobId, lookup.problem)
        continue
      }
      const auth = clientAuth(lookup.credential)
      for (let i = 0; i < group.length; i += STATUS_BATCH) {
        const part = group.slice(i, i + STATUS_BATCH)
        let answers: Map<string, JobLookup>
        try {
          answers = await lookupJobs(
            deps.client,
            server,
            auth,
            part.map((s) => s.jobId),
          )
          deps.pool.ok(server)
        } catch (err) {
          if (serverTrouble(err)) deps.pool.failed(server, (err as Error).message)
          answers = new Map(part.map((s) => [s.jobId, { kind: 'error', message: (err as Error).message }]))
        }
        for (const s of part) {
          const a = answers.get(s.jobId) ?? { kind: 'error', message: 'no answer' }
          if (a.kind === 'found') {
            out.found.set(s.jobId, { server, job: a.job, archived: a.archived })
            continue
          }
          if (a.kind !== 'missing') {
            s.unsure = true
            out.undecided.set(s.jobId, `${server}: ${a.message}`)
          }
          next.push({ ...s, servers: s.servers.slice(1) })
        }
      }
    }
    round = next
  }
  for (const id of out.found.keys()) out.undecided.delete(id)
  return out
}
