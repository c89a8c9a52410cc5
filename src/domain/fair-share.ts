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
  /** the queue key that starts the next round */
  next: string | null
}

export function newFairShareState(): FairShareState {
  return { deficits: new Map(), next: null }
}

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
  const weight = (d: QueueDemand) => Math.max(1e-6, weightOf(d.user)) / queuesPerUser.get(d.user)!

  // start the round where the last cycle stopped
  let start = state.next === null ? 0 : active.findIndex((d) => d.key >= state.next!)
  if (start < 0) start = 0
  const order = [...active.slice(start), ...active.slice(0, start)]
  const remaining = new Map(order.map((d) => [d.key, d.waiting]))
  let left = capacity

  while (left > 0) {
    const live = order.filter((d) => remaining.get(d.key)! > 0)
    if (live.length === 0) break
    // skip empty rounds at once when every weight is small
    const need = Math.min(...live.map((d) => Math.max(0, 1 - (state.deficits.get(d.key) ?? 0)) / weight(d)))
    const rounds = Math.max(1, Math.ceil(need - 1e-9))
    for (let i = 0; i < live.length && left > 0; i++) {
      const d = live[i]!
      let credit = (state.deficits.get(d.key) ?? 0) + weight(d) * rounds
      const take = Math.min(Math.floor(credit + 1e-9), remaining.get(d.key)!, left)
      if (take > 0) {
        result.set(d.key, (result.get(d.key) ?? 0) + take)
        remaining.set(d.key, remaining.get(d.key)! - take)
        left -= take
        credit -= take
      }
      state.deficits.set(d.key, remaining.get(d.key)! > 0 ? credit : 0)
      if (left === 0) state.next = live[(i + 1) % live.length]!.key
    }
  }
  return result
}
