import type { AgentClock } from '../agent/runner.js'
import { MinHeap } from './heap.js'

interface Timer {
  at: number
  seq: number
  fn: () => void
  cancelled: boolean
}

/**
 * The agent's clock in a simulation: `now` moves only when the driver says so, and timers fire when the
 * driver reaches their time (fireDue), however long the real work between takes.
 */
export class VirtualClock implements AgentClock {
  private t: number
  private seq = 0
  private readonly timers = new MinHeap<Timer>()

  constructor(start: number) {
    this.t = start
  }

  now(): number {
    return this.t
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false }
    this.timers.push(timer)
    return timer
  }

  clearTimeout(handle: unknown): void {
    if (handle) (handle as Timer).cancelled = true
  }

  /** Moves the time forward (never back). */
  advanceTo(t: number): void {
    if (t > this.t) this.t = t
  }

  /** When the next live timer is due (Infinity: none). */
  nextAt(): number {
    for (;;) {
      const top = this.timers.peek()
      if (!top) return Number.POSITIVE_INFINITY
      if (!top.cancelled) return top.at
      this.timers.pop()
    }
  }

  /** Runs every timer due by now; returns how many ran. */
  fireDue(): number {
    let n = 0
    while (this.nextAt() <= this.t) {
      const timer = this.timers.pop()!
      n++
      timer.fn()
    }
    return n
  }
}
