import {
  allocateFairShare,
  allocateFifo,
  type FairShareState,
  newFairShareState,
  type QueueDemand,
} from '../domain/fair-share.js'
import { effectiveLinkLimit } from '../domain/link-limit.js'
import { linkKey } from '../domain/transfer.js'
import { CredentialHoldError, type TransferEngine } from '../engines/types.js'
import type { ClaimedJob, ClaimSpec } from '../store/ops/claim.js'
import type { Hold } from '../store/ops/holds.js'
import { oldestKey, type WaitingQueue } from '../store/ops/queue-reads.js'
import type { LoopContext } from './context.js'
import { type HandOverStore, JobHandOver } from './hand-over.js'
import { type Admission, QuotaAdmission, type QuotaStore } from './quota-admission.js'

/** A queue's claim for this cycle, with its quota admission where its destination has one. */
type Wanted = { spec: ClaimSpec; engine: TransferEngine; admission?: Admission }

function queueKey(q: { user: string; group: string | null; role: string | null }): string {
  return `${q.user}\0${q.group ?? ''}\0${q.role ?? ''}`
}

/** Consecutive runs of claims whose files add up to at most `maxFiles` (one queue larger than that alone). */
export function claimGroups<T extends { spec: { limit: number } }>(
  wanted: readonly T[],
  maxFiles: number,
): T[][] {
  const groups: T[][] = []
  let files = Infinity
  for (const w of wanted) {
    if (files + w.spec.limit > maxFiles) {
      groups.push([])
      files = 0
    }
    groups.at(-1)!.push(w)
    files += w.spec.limit
  }
  return groups
}

function isHeld(q: WaitingQueue, holds: readonly Hold[]): boolean {
  return holds.some((h) => h.user === q.user && (h.site === '*' || h.site === q.destination))
}

/**
 * NEW → SUBMITTING → SUBMITTED. Each cycle, for each link with spare capacity, shares the capacity between
 * the users waiting on it (weighted fair share) and hands engines just what the link can start now.
 */
export class Submitter {
  readonly name = 'submitter'
  private readonly fairShare = new Map<string, FairShareState>()
  stopping = false
  private readonly jobs: JobHandOver
  private readonly quota: QuotaAdmission

  constructor(
    private readonly ctx: LoopContext<
      | HandOverStore
      | 'activeHolds'
      | 'addHold'
      | 'claimForSubmissions'
      | 'inFlightByLink'
      | 'linkSettings'
      | 'userWeights'
      | 'waitingQueues'
      | 'oldestWaiting'
      | keyof QuotaStore
    >,
  ) {
    this.jobs = new JobHandOver(ctx)
    this.quota = new QuotaAdmission(ctx)
  }

  async run(): Promise<number> {
    if (this.stopping) return 0
    const { store, sites } = this.ctx
    const now = this.ctx.now()
    const [queues, inFlight, linkSettings, weights, holds] = await Promise.all([
      store.waitingQueues(),
      store.inFlightByLink(),
      store.linkSettings(),
      store.userWeights(),
      store.activeHolds(now),
    ])
    const settings = new Map(linkSettings.map((s) => [s.link, s]))
    const byLink = new Map<string, WaitingQueue[]>()
    for (const q of queues) {
      if (isHeld(q, holds)) continue
      const k = linkKey(q.source, q.destination)
      byLink.set(k, [...(byLink.get(k) ?? []), q])
    }
    const weightOf = (user: string) => weights.get(user) ?? this.ctx.config.users[user]?.weight ?? 1
    // agent.scheduling: fifo (the original ASO's order, for baselines) needs each queue's oldest waiting file
    const oldest = this.ctx.config.agent.scheduling === 'fifo' ? await store.oldestWaiting() : null

    /** users held during this cycle (a credential problem found by jobIdFactory) */
    const heldNow = new Set<string>()
    const wanted: Wanted[] = []
    for (const [link, linkQueues] of byLink) {
      if (this.stopping) break
      const { source, destination } = linkQueues[0]!
      const cfg = effectiveLinkLimit(sites.link(source, destination), settings.get(link))
      if (cfg.paused) continue
      const { maxActive } = cfg
      const capacity = maxActive - (inFlight.get(link) ?? 0)
      if (capacity <= 0) continue
      const engine = this.ctx.engines.get(cfg.engine)
      if (!engine) {
        this.ctx.log.error({ link, engine: cfg.engine }, 'no such engine configured for this link')
        continue
      }
      const state = this.fairShare.get(link) ?? newFairShareState()
      this.fairShare.set(link, state)
      const demands: QueueDemand[] = linkQueues.map((q) => ({
        key: queueKey(q),
        user: q.user,
        waiting: q.waiting,
      }))
      const shares = oldest
        ? allocateFifo(
            capacity,
            linkQueues.map((q, i) => ({
              ...demands[i]!,
              oldest: oldest.get(oldestKey(q.source, q.destination, q.user, q.group, q.role)) ?? now,
            })),
          )
        : allocateFairShare(capacity, demands, weightOf, state)
      for (const q of linkQueues) {
        const n = shares.get(queueKey(q)) ?? 0
        if (n <= 0 || heldNow.has(q.user)) continue
        const admission = await this.quota.admit(q, now)
        if (!(await this.admitted(q, admission, now))) continue
        let jobIdFor: (sid: string) => string
        try {
          jobIdFor = await engine.jobIdFactory({ ...q })
        } catch (e) {
          // one user's credential or one server's trouble must not stop the others' queues
          if (await this.holdForCredential(e, now)) heldNow.add(q.user)
          else
            this.ctx.log.warn(
              { link, user: q.user, err: (e as Error).message },
              'cannot submit this queue now',
            )
          continue
        }
        wanted.push({
          engine,
          admission,
          spec: {
            ...(admission.kind === 'budget' ? { maxBytes: admission.maxBytes } : {}),
            ...q,
            limit: n,
            maxActive,
            maxFilesPerJob: Math.min(cfg.maxFilesPerJob, engine.maxFilesPerJob ?? cfg.maxFilesPerJob),
            engine: engine.name,
            agentId: this.ctx.agentId,
            now,
            jobIdFor,
          },
        })
      }
    }
    return this.claimAndSubmit(wanted)
  }

  /**
   * Claims the cycle's shares, the queues of up to `agent.batchSize` files in one transaction (a commit per queue
   * cost more than the claims; the bound keeps one transaction, and the wait for the first submit, short), and
   * hands each job to its engine as soon as its transaction committed.
   */
  private async claimAndSubmit(wanted: readonly Wanted[]): Promise<number> {
    let claimedFiles = 0
    const submissions: Promise<void>[] = []
    let submitError: { e: unknown } | undefined
    for (const group of claimGroups(wanted, this.ctx.config.agent.batchSize)) {
      if (this.stopping) break
      const claimed = await this.ctx.store.claimForSubmissions(group.map((w) => w.spec))
      for (const [i, jobs] of claimed.entries()) {
        const { engine, spec, admission } = group[i]!
        if (admission) await this.settleQuota(spec, admission, jobs)
        for (const job of jobs) {
          claimedFiles += job.transfers.length
          // handled at once: a submit failing while this loop still claims (the store went away) would
          // otherwise be an unhandled rejection, which ends the process; the first error is rethrown below
          submissions.push(
            this.submit(engine, job, spec.maxActive).catch((e: unknown) => {
              submitError ??= { e }
            }),
          )
        }
      }
    }
    await Promise.all(submissions)
    if (submitError) throw submitError.e
    return claimedFiles
  }

  /**
   * A user without a usable credential (CredentialHoldError from jobIdFactory): hold all their files, on every
   * link, until the credential watcher sees a valid one (or the hold's recheck time passes). True when held.
   */
  private async holdForCredential(e: unknown, now: number): Promise<boolean> {
    if (!(e instanceof CredentialHoldError)) return false
    const until = now + this.ctx.config.holds.quotaRecheck
    await this.ctx.store.addHold(
      { user: e.user, site: '*', class: 'credential', reason: e.reason, since: now, until },
      this.ctx.agentId,
    )
    this.ctx.log.warn({ user: e.user, reason: e.reason }, 'user held: no usable credential')
    return true
  }

  /**
   * Quota admission before the claim: false when this queue is not claimed now (its storage being asked for
   * the first time, or no byte of it fits: then held with the numbers).
   */
  private async admitted(q: WaitingQueue, a: Admission, now: number): Promise<boolean> {
    if (a.kind === 'pending') return false
    if (a.kind === 'budget' && a.maxBytes <= 0) {
      await this.settleQuota({ ...q, now }, a, [])
      return false
    }
    return true
  }

  /** Places, renews or releases the queue's quota hold after its claim; a store error only delays that. */
  private async settleQuota(
    q: { user: string; destination: string; now: number },
    a: Admission,
    jobs: readonly ClaimedJob[],
  ): Promise<void> {
    const files = jobs.reduce((n, j) => n + j.transfers.length, 0)
    await this.quota.settle(q, a, files, q.now).catch((e: unknown) => {
      this.ctx.log.warn(
        { user: q.user, site: q.destination, err: (e as Error).message },
        'quota hold not updated',
      )
    })
  }

  /** Hands one claimed job to its engine (its id is already stored, SUBMITTING). */
  submit(engine: TransferEngine, claimed: ClaimedJob, maxActive: number): Promise<void> {
    return this.jobs.handOver({ engine, jobId: claimed.jobId, transfers: claimed.transfers, maxActive })
  }
}
