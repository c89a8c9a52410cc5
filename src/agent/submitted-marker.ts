import type { Store } from '../store/store.js'

interface Waiter {
  jobId: string
  resolve(killing: string[]): void
  reject(e: unknown): void
}

/**
 * Marks accepted jobs SUBMITTED, gathering the jobs accepted in the same turn of the event loop into one
 * transaction: a cycle's submits end in bursts, and one commit per job would dominate on SQLite.
 */
export class SubmittedMarker {
  private waiting: Waiter[] = []
  private scheduled = false

  constructor(
    private readonly store: Pick<Store, 'markSubmitted'>,
    private readonly actor: string,
    private readonly now: () => number,
  ) {}

  /** Resolves with the job's files that were killed while it was being submitted. */
  mark(jobId: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ jobId, resolve, reject })
      if (!this.scheduled) {
        this.scheduled = true
        setImmediate(() => void this.flush())
      }
    })
  }

  private async flush(): Promise<void> {
    this.scheduled = false
    const batch = this.waiting
    this.waiting = []
    try {
      const result = await this.store.markSubmitted(
        batch.map((w) => w.jobId),
        this.now(),
        this.actor,
      )
      for (const w of batch) w.resolve(result.get(w.jobId)?.killing ?? [])
    } catch (e) {
      for (const w of batch) w.reject(e)
    }
  }
}
