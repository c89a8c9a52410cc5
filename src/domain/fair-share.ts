/**
 * Weighted fair share between the queues waiting on one link: deficit round-robin.
 * A user with one file is not stuck behind one with 100,000: each round every queue earns
 * credit in proportion to its weight and spends it one file at a time.
 */

export interface QueueDemand {
  /** identifies the queue (user, group, role on this link) */
  key: string
  user: string
  waiting: number
}

/** Round-robin state of one link, kept by the submitter between cycles so fairness holds over time. */
export interface FairShareState {
  deficits: Map<string, number>
  /** the queue key that starts the next cycle */
  next: string | null
  /** whether that queue already received this round's credit (it was cut short by the capacity) */
  granted: boolean
}

export function newFairShareState(): FairShareState {
  return { deficits: new Map(), next: null, granted: false }
}

const EPS = 1e-9

/**
 * Shares `capacity` files between `demands`; returns files per queue key.
 * `weightOf(user)` is the user's weight (> 0); a user's weight is split between their queues.
 */
export function allocateFairShare(
  capacity: number,
  demands: readonly QueueDemand[],
  weightOf: (user: string) => number,
  state: FairShareState,
): Map<string, number> {
  const result = new Map<string, number>()
  const active = demands
    .filter((d) => d.waiting > 0)
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  for (const key of [...state.deficits.keys()]) {
    if (!active.some((d) => d.key === key)) state.deficits.delete(key)
  }
  if (capacity <= 0 || active.length === 0) return result

  const queuesPerUser = new Map<string, number>()
  for (const d of active) queuesPerUser.set(d.user, (queuesPerUser.get(d.user) ?? 0) + 1)
  const weight = (d: QueueDemand) => Math.max(0.01, weightOf(d.user)) / queuesPerUser.get(d.user)!

  // resume where the last cycle stopped: the same queue if it still had credit, else the one after it
  let start = active.findIndex((d) => d.key === state.next)
  let resume = start >= 0 && state.granted
  if (start < 0) {
    start =
      state.next === null
        ? 0
        : Math.max(
            0,
            active.findIndex((d) => d.key > state.next!),
          )
    resume = false
  }
  const order = [...active.slice(start), ...active.slice(0, start)]
  const remaining = new Map(order.map((d) => [d.key, d.waiting]))
  let left = capacity

  for (;;) {
    const live = order.filter((d) => remaining.get(d.key)! > 0)
    if (live.length === 0) break
    for (let i = 0; i < live.length; i++) {
      const d = live[i]!
      let credit = state.deficits.get(d.key) ?? 0
      if (!resume) credit += weight(d)
      resume = false
      const take = Math.min(Math.floor(credit + EPS), remaining.get(d.key)!, left)
      if (take > 0) {
        result.set(d.key, (result.get(d.key) ?? 0) + take)
        remaining.set(d.key, remaining.get(d.key)! - take)
        left -= take
        credit -= take
      }
      state.deficits.set(d.key, remaining.get(d.key)! > 0 ? credit : 0)
      if (left === 0) {
        const stillOwed = remaining.get(d.key)! > 0 && credit >= 1 - EPS
        state.next = stillOwed ? d.key : live[(i + 1) % live.length]!.key
        state.granted = stillOwed
        return result
      }
    }
  }
  state.next = null
  state.granted = false
  return result
}

/** A queue's demand with the injection time of its oldest waiting file, for FIFO scheduling. */
export interface FifoDemand extends QueueDemand {
  /** epoch ms of the oldest file waiting in the queue */
  oldest: number
}

/**
 * The original ASO's order (FIFOPriority, without its high-priority list): the queue whose oldest file has
 * waited longest is served first and in full, then the next; no fair share between users. Ties go by key.
 */
export function allocateFifo(capacity: number, demands: readonly FifoDemand[]): Map<string, number> {
  const result = new Map<string, number>()
  let left = capacity
  const order = demands
    .filter((d) => d.waiting > 0)
    .sort((a, b) => a.oldest - b.oldest || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
  for (const d of order) {
    if (left <= 0) break
    const take = Math.min(d.waiting, left)
    result.set(d.key, take)
    left -= take
  }
  return result
}
