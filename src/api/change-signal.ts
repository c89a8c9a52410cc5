/**
 * An in-process "something changed" signal: when the API and the agent run in one process, a transition
 * wakes event streams and long-polls at once instead of at their next poll of the store. Polling stays the
 * backstop (another process, another agent, a missed wake-up), so a signal carries no data.
 */
export class ChangeSignal {
  private waiters = new Set<() => void>()

  /** Wakes everyone waiting now. */
  notify(): void {
    const waiters = this.waiters
    this.waiters = new Set()
    for (const w of waiters) w()
  }

  /** Resolves at the next notify, after `ms`, or when `abort` fires, whichever comes first. */
  wait(ms: number, abort?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.waiters.delete(done)
        abort?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
      abort?.addEventListener('abort', done, { once: true })
    })
  }
}
