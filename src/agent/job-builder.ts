import type { Endpoint } from '../domain/endpoint.js'
import type { FailureClass } from '../domain/failures.js'
import { isTerminal } from '../domain/states.js'
import type { SubmittableTransfer } from '../domain/transfer.js'
import type { EngineFile, EngineJob } from '../engines/types.js'
import { type SiteCatalog, SiteResolutionError } from '../sites/catalog.js'

export interface BuiltJob {
  job: EngineJob
  /** files that cannot be submitted at all (unknown site, no PFN rule) */
  rejected: { id: string; class: FailureClass; reason: string }[]
}

function endpointsWithTpc(sites: SiteCatalog, site: string, lfn: string): Endpoint[] {
  return sites.endpoints(site, lfn).map((e) => ({ ...e, tpc: sites.tpcAllowed(site, e.scheme) }))
}

/** Resolves both ends of each file to storage URLs and builds the engine job; unresolvable files are rejected. */
export function buildEngineJob(
  jobId: string,
  transfers: readonly SubmittableTransfer[],
  sites: SiteCatalog,
  opts: { overwrite: boolean; maxActive: number; resumed?: boolean },
): BuiltJob {
  const first = transfers[0]!
  const files: EngineFile[] = []
  const rejected: BuiltJob['rejected'] = []
  for (const t of transfers) {
    if (isTerminal(t.state)) continue
    let sources: Endpoint[]
    let destinations: Endpoint[]
    try {
      sources = endpointsWithTpc(sites, t.source, t.sourceLfn)
    } catch (e) {
      if (!(e instanceof SiteResolutionError)) throw e
      rejected.push({ id: t.id, class: 'permanent-source', reason: `SOURCE [2] ${e.message}` })
      continue
    }
    try {
      destinations = endpointsWithTpc(sites, t.destination, t.destinationLfn)
    } catch (e) {
      if (!(e instanceof SiteResolutionError)) throw e
      rejected.push({ id: t.id, class: 'permanent-destination', reason: `DESTINATION [2] ${e.message}` })
      continue
    }
    files.push({
      transferId: t.id,
      attempt: t.attempt,
      submission: t.submissions,
      task: t.task,
      sources,
      destinations,
      size: t.size,
      adler32: t.checksums.adler32,
      activity: t.activity,
      priority: t.priority,
      // a retry, a resubmission, a resumed job or a supersede may find our own earlier copy at the destination
      ownsDestination: opts.resumed === true || t.attempt > 1 || t.submissions > 1 || t.jobRetry > 0,
    })
  }
  return {
    job: {
      id: jobId,
      user: first.user,
      group: first.group,
      role: first.role,
      source: first.source,
      destination: first.destination,
      files,
      priority: Math.max(...transfers.map((t) => t.priority)),
      overwrite: opts.overwrite,
      maxActive: opts.maxActive,
    },
    rejected,
  }
}
