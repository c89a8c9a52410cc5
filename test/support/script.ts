/** Scripted answers for the scripted peers of the loop lab (scripted-engine.ts, scripted-storage.ts). */

/** One scripted answer: an error the call throws, or a function of the call's arguments giving its result. */
export type Answer<A extends unknown[], R> = Error | ((...args: A) => R | Promise<R>)

/** The answers a test scripted for one operation, used one per call in order; then the peer's default. */
export class Script<A extends unknown[], R> {
  private readonly queue: Answer<A, R>[] = []

  constructor(private readonly fallback: (...args: A) => R | Promise<R>) {}

  /** Queues answers for the next calls. */
  push(...answers: Answer<A, R>[]): void {
    this.queue.push(...answers)
  }

  /** Scripted answers not used yet. */
  get pending(): number {
    return this.queue.length
  }

  async answer(...args: A): Promise<R> {
    const a = this.queue.shift() ?? this.fallback
    if (a instanceof Error) throw a
    return a(...args)
  }
}
