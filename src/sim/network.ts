import { MinHeap } from './heap.js'
import { rawThroughput, transientFailureRate } from './link-model.js'
import { hashUnit, rng } from './random.js'
import { isDown, linkModelOf, type World } from './scenario.js'

/** Why a simulated copy failed: the report's failure classes. */
export type Cause = 'quota' | 'queue-timeout' | 'destination' | 'permission' | 'source' | 'transient'
export const CAUSES: readonly Cause[] = [
  'quota',
  'queue-timeout',
  'destination',
  'permission',
  'source',
  'transient',
]

/** The engine-side reason of each cause, in the form failures.ts classifies (checked by the unit tests). */
export const REASONS: Record<Cause, string> = {
  quota: 'DESTINATION [122] Disk quota exceeded',
  'queue-timeout': 'Job has been canceled because it stayed in the queue for too long',
  destination: 'DESTINATION [110] Connection timed out while writing the destination',
  permission: 'DESTINATION [13] Permission denied',
  source: 'SOURCE [2] No such file or directory',
  transient: 'TRANSFER [110] Operation timed out: no performance marker',
}
/** A source site that does not answer (its down-time): retried, counted as a source failure. */
export const SOURCE_DOWN = 'SOURCE [110] Connection timed out while opening the source'

export interface Copy {
  /** the file (transfer id) */
  id: string
  user: number
  source: number
  destination: number
  size: number
}

export interface CopyEnd {
  ok: boolean
  cause?: Cause
  reason: string
  /** bytes moved (a failed copy moved part of them) */
  bytes: number
  at: number
}

interface Active {
  copy: Copy
  threshold: number
  /** decided at the start: the cause it fails with at its end, if it fails */
  fails: { cause: Cause; reason: string } | null
  bytes: number
  onEnd: (e: CopyEnd) => void
}

interface LinkState {
  key: number
  source: number
  destination: number
  streams: number
  capacity: number
  model: ReturnType<typeof linkModelOf>
  /** service per copy so far (bytes): each active copy ends when it reaches its threshold */
  service: number
  lastAt: number
  active: MinHeap<{ at: number; seq: number; a: Active }>
  n: number
  version: number
  /** bytes moved over the link (done or not), and delivered */
  moved: number
  delivered: number
  busyMs: number
}

interface NetEvent {
  at: number
  seq: number
  run: () => void
}

/**
 * The simulated network and storage: per-link bandwidth shared by the copies on it (link-model.ts), latency,
 * site down-times, per-(user, site) quota, transient failures. Copies start when a front-end says so (the
 * FTS-like engine, or a job copying its own outputs); the model decides at the start whether and how each
 * fails, from causes, never from outcome shares.
 */
export class Network {
  private readonly links = new Map<number, LinkState>()
  private readonly events = new MinHeap<NetEvent>()
  private seq = 0
  private t: number
  /** bytes kept at each (user, destination), committed and reserved by copies running */
  private readonly used = new Map<number, number>()
  private readonly random: () => number
  copiesStarted = 0

  constructor(
    readonly world: World,
    start: number,
  ) {
    this.t = start
    this.random = rng(world.scenario.seed ^ 0x5eed)
  }

  now(): number {
    return this.t
  }

  /** Something to run at `at` (virtual ms). */
  at(at: number, run: () => void): void {
    this.events.push({ at: Math.max(at, this.t), seq: this.seq++, run })
  }

  nextAt(): number {
    return this.events.peek()?.at ?? Number.POSITIVE_INFINITY
  }

  /** Runs every event due by `t`, in order, and leaves the network's time at `t`. */
  advanceTo(t: number): void {
    for (;;) {
      const e = this.events.peek()
      if (!e || e.at > t) break
      this.events.pop()
      this.t = Math.max(this.t, e.at)
      e.run()
    }
    if (t > this.t) this.t = t
  }

  link(source: number, destination: number): LinkState {
    const key = source * 65536 + destination
    let l = this.links.get(key)
    if (!l) {
      const model = linkModelOf(this.world, source, destination)
      l = {
        key,
        source,
        destination,
        streams: model.streams,
        capacity: rawThroughput(model, model.streams),
        model,
        service: 0,
        lastAt: this.t,
        active: new MinHeap(),
        n: 0,
        version: 0,
        moved: 0,
        delivered: 0,
        busyMs: 0,
      }
      this.links.set(key, l)
    }
    return l
  }

  /** Copies running on a link now. */
  activeOn(source: number, destination: number): number {
    return this.links.get(source * 65536 + destination)?.n ?? 0
  }

  /** Per link: bytes moved, delivered, its capacity (bytes/s) and how long copies ran on it. */
  linkTotals(): {
    source: number
    destination: number
    moved: number
    delivered: number
    capacity: number
  }[] {
    return [...this.links.values()].map((l) => ({
      source: l.source,
      destination: l.destination,
      moved: l.moved,
      delivered: l.delivered,
      capacity: l.capacity,
    }))
  }

  private quotaKey(c: Copy): number {
    return c.user * 65536 + c.destination
  }

  /** Starts a copy now; `onEnd` runs at its end (in virtual time). */
  start(copy: Copy, onEnd: (e: CopyEnd) => void): void {
    this.copiesStarted++
    const w = this.world
    const now = this.t
    const rel = now - w.start
    const dst = w.sites[copy.destination]!
    const latency = w.scenario.links.latencyMs
    // causes that end the copy before any byte moves, in the order a real copy meets them
    const qk = this.quotaKey(copy)
    const used = this.used.get(qk) ?? 0
    const early = this.earlyFailure(copy, rel, used)
    if (early) {
      this.at(now + latency, () => onEnd({ ok: false, ...early, bytes: 0, at: this.t }))
      return
    }
    this.used.set(qk, used + copy.size)

    const l = this.link(copy.source, copy.destination)
    this.settle(l)
    const pTransient = w.scenario.failures.transient + transientFailureRate(l.model, l.n + 1)
    const pFlaky = dst.flaky ? w.scenario.failures.flakyRate : 0
    const u = this.random()
    let fails: Active['fails'] = null
    let part = 1
    if (u < pFlaky) fails = { cause: 'destination', reason: REASONS.destination }
    else if (u < pFlaky + pTransient) fails = { cause: 'transient', reason: REASONS.transient }
    if (fails) part = 0.05 + 0.9 * this.random()
    // latency as the bytes an uncongested stream would move meanwhile: one event per copy, not two
    const bytes = copy.size * part
    const cost = bytes + (l.model.latencyMs! / 1000) * l.model.streamRate
    const a: Active = { copy, threshold: l.service + cost, fails, bytes, onEnd }
    l.active.push({ at: a.threshold, seq: this.seq++, a })
    l.n++
    this.reschedule(l)
  }

  /** A failure met before any byte moves: a site down, the source file missing, no permission, no room. */
  private earlyFailure(copy: Copy, rel: number, used: number): { cause: Cause; reason: string } | null {
    const w = this.world
    const user = w.users[copy.user]!
    const at = (cause: Cause, reason = REASONS[cause]) => ({ cause, reason })
    if (isDown(w.sites[copy.source]!, rel)) return at('source', SOURCE_DOWN)
    if (hashUnit(w.scenario.seed, copy.id) < w.scenario.failures.sourceMissing) return at('source')
    if (isDown(w.sites[copy.destination]!, rel)) return at('destination')
    if (user.denied && copy.destination === user.home) return at('permission')
    if (copy.destination === user.home && used + copy.size > user.quota) return at('quota')
    return null
  }

  /** Brings a link's service up to now. */
  private settle(l: LinkState): void {
    const dt = (this.t - l.lastAt) / 1000
    if (dt > 0 && l.n > 0) {
      const perCopy = rawThroughput(l.model, l.n) / l.n
      l.service += perCopy * dt
      l.moved += perCopy * l.n * dt
      l.busyMs += dt * 1000
    }
    l.lastAt = this.t
  }

  private reschedule(l: LinkState): void {
    const v = ++l.version
    const top = l.active.peek()
    if (!top) return
    const perCopy = rawThroughput(l.model, l.n) / l.n
    const at = this.t + Math.max(0, ((top.at - l.service) / perCopy) * 1000)
    // at least a millisecond on: a few bytes left at a high rate must not round to now (an endless loop)
    this.at(Math.max(this.t + 1, Math.ceil(at)), () => {
      if (l.version !== v) return
      this.settle(l)
      const ended: Active[] = []
      for (;;) {
        const next = l.active.peek()
        if (!next || next.at > l.service + 1) break
        l.active.pop()
        l.n--
        ended.push(next.a)
      }
      this.reschedule(l)
      for (const a of ended) this.end(l, a)
    })
  }

  private end(l: LinkState, a: Active): void {
    const qk = this.quotaKey(a.copy)
    if (a.fails) {
      this.used.set(qk, (this.used.get(qk) ?? 0) - a.copy.size)
      a.onEnd({ ok: false, cause: a.fails.cause, reason: a.fails.reason, bytes: a.bytes, at: this.t })
      return
    }
    l.delivered += a.copy.size
    a.onEnd({ ok: true, reason: 'copied', bytes: a.copy.size, at: this.t })
  }
}
