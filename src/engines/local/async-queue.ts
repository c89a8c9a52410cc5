/** A single-consumer queue that an async iterator drains: the push path of an engine's outcomes. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = []
  private waiter: ((r: IteratorResult<T>) => void) | null = null
  private closed = false

  push(item: T): void {
    if (this.closed) return
    const w = this.waiter
    if (w) {
      this.waiter = null
      w({ value: item, done: false })
    } else this.items.push(item)
  }

  close(): void {
    this.closed = true
    const w = this.waiter
    this.waiter = null
    w?.({ value: undefined, done: true })
  }

  /** Takes everything queued now, without waiting. */
  drain(): T[] {
    const out = this.items
    this.items = []
    return out
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift()
        if (item !== undefined) return Promise.resolve({ value: item, done: false })
        if (this.closed) return Promise.resolve({ value: undefined, done: true })
        return new Promise((resolve) => {
          this.waiter = resolve
        })
      },
    }
  }
}
