/** A counting semaphore, first come first served, so a batch that needs many slots is not starved. */
export class Slots {
  private free: number
  private readonly waiting: { n: number; resolve: () => void }[] = []

  constructor(capacity: number) {
    this.free = capacity
  }

  async take(n: number): Promise<void> {
    if (this.waiting.length === 0 && this.free >= n) {
      this.free -= n
      return
    }
    await new Promise<void>((resolve) => this.waiting.push({ n, resolve }))
  }

  give(n: number): void {
    this.free += n
    for (let w = this.waiting[0]; w && this.free >= w.n; w = this.waiting[0]) {
      this.free -= w.n
      this.waiting.shift()
      w.resolve()
    }
  }
}
