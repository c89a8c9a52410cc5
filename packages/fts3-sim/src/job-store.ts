/**
 * The double's tables, in memory: live jobs (t_job/t_file), the archive (t_job_backup) they move to
 * `archiveAfterMs` after finishing, and file ids. The double does not survive its own restart.
 */
import { FtsHttpError } from './http-errors.js'
import type { SimFile, SimJob } from './job-model.js'

export class JobStore {
  private readonly live = new Map<string, SimJob>()
  private readonly archived = new Map<string, SimJob>()
  private readonly files = new Map<number, { job: SimJob; file: SimFile }>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private nextFileId = 1

  constructor(private readonly archiveAfterMs?: number) {}

  /** Stores a new job and numbers its files; a job id already live is the server's 409. */
  insert(job: SimJob): void {
    if (this.live.has(job.jobId)) throw new FtsHttpError(409, 'The sid provided by the user is duplicated')
    for (const file of job.files) {
      file.fileId = this.nextFileId++
      this.files.set(file.fileId, { job, file })
    }
    this.live.set(job.jobId, job)
  }

  get(jobId: string): SimJob | undefined {
    return this.live.get(jobId)
  }

  getArchived(jobId: string): SimJob | undefined {
    return this.archived.get(jobId)
  }

  file(fileId: number): { job: SimJob; file: SimFile } | undefined {
    return this.files.get(fileId)
  }

  liveJobs(): SimJob[] {
    return [...this.live.values()]
  }

  archivedJobs(): SimJob[] {
    return [...this.archived.values()]
  }

  /** Call when a job became terminal: it moves to the archive after `archiveAfterMs`. */
  finished(job: SimJob): void {
    if (this.archiveAfterMs === undefined) return
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      if (this.live.get(job.jobId) !== job) return
      this.live.delete(job.jobId)
      for (const f of job.files) this.files.delete(f.fileId)
      this.archived.set(job.jobId, job)
    }, this.archiveAfterMs)
    timer.unref()
    this.timers.add(timer)
  }

  close(): void {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }
}
