/**
 * Whose each FTS job is, and on which server: the credential its status and cancel calls must use (another
 * user's job answers 403) and where to ask. Jobs this engine submitted are known; others (after a restart)
 * are looked up through the agent's store, their server found by asking the link's servers in turn.
 */
import type { JobIdContext } from '../types.js'

/** The queue a job came from: its user (and group, role) and link. */
export type JobOwner = JobIdContext

export interface KnownJob {
  owner: JobOwner
  /** the server holding it, once known */
  server?: string
}

const MAX_KNOWN = 200_000

export class JobOwners {
  private readonly known = new Map<string, KnownJob>()

  constructor(private readonly lookup?: (jobId: string) => Promise<JobOwner | undefined>) {}

  /** Records a job this engine is handing to a server (or found on one). */
  set(jobId: string, owner: JobOwner, server?: string): void {
    if (this.known.size >= MAX_KNOWN && !this.known.has(jobId)) {
      // the oldest entries go first; a job asked about again is looked up anew
      const first = this.known.keys().next().value
      if (first !== undefined) this.known.delete(first)
    }
    this.known.set(jobId, { owner, ...(server ? { server } : {}) })
  }

  located(jobId: string, server: string): void {
    const k = this.known.get(jobId)
    if (k) k.server = server
  }

  forget(jobId: string): void {
    this.known.delete(jobId)
  }

  /** The job's owner and server, looked up when this engine has not seen it; undefined when nobody knows. */
  async get(jobId: string): Promise<KnownJob | undefined> {
    const k = this.known.get(jobId)
    if (k) return k
    const owner = await this.lookup?.(jobId)
    if (!owner) return undefined
    const found: KnownJob = { owner }
    this.known.set(jobId, found)
    return found
  }
}
