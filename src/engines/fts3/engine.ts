import { uuid5 } from '../../domain/ids.js'
import type { FileOutcome } from '../../domain/outcome.js'
import { checkStompFiles, type StompSettings, type StompTarget, stompTarget } from '../../stomp/index.js'
import type { StorageRegistry } from '../../storage/registry.js'
import { AsyncQueue } from '../local/async-queue.js'
import {
  CredentialHoldError,
  type EngineJob,
  type EngineJobStatus,
  EngineSubmitError,
  type JobIdContext,
  type TransferEngine,
} from '../types.js'
import { cancelAtFts } from './cancel.js'
import { Fts3Client } from './client.js'
import { CredentialSource, clientAuth, type UserCredential } from './credentials.js'
import { Delegator } from './delegation.js'
import { findJobs, serverTrouble } from './find-jobs.js'
import { Identities } from './identity.js'
import { type JobOwner, JobOwners, type KnownJob } from './job-owners.js'
import { type Fts3ServerConfig, ServerPool } from './servers.js'
import { mapJob } from './status.js'
import { CompletionReceiver } from './stomp-receiver.js'
import { inDoubt, postJob, StrayJobError, type SubmitSettings, sidOf, submissionBody } from './submit.js'
import { verifyDone } from './verify.js'

/** Where the engine writes what it notices (pino's shape). */
export interface EngineLog {
  info(obj: object, msg: string): void
  warn(obj: object, msg: string): void
}

export interface Fts3EngineOptions extends SubmitSettings {
  servers: Fts3ServerConfig[]
  /** path patterns with `{user}` */
  proxyPath: string
  tokenPath?: string
  /** CA certificates the servers' certificates are checked against */
  caDir?: string
  maxFilesPerJob: number
  delegation: { lifetimeMs: number; renewBelowMs: number }
  /** a user whose proxy has less left than this is held instead of submitted */
  minProxyLifetimeMs: number
  /** per HTTP call */
  timeoutMs: number
  /** the broker of completion messages (plain or TLS), its topic, and the VO to keep */
  stomp?: StompSettings & { topic: string; vo?: string }
  /** whose a job is that this engine did not submit (after a restart): the agent's store knows */
  lookupJob?(jobId: string): Promise<JobOwner | undefined>
  /** to check destinations when FTS was told not to (verifyChecksum below both or target) */
  storage?: StorageRegistry
  log?: EngineLog
}

interface Planned {
  server: string
  sid: string
}

const SILENT: EngineLog = { info: () => {}, warn: () => {} }
const MAX_PLANNED = 100_000

/**
 * The FTS3 engine (ARCHITECTURE.md §7, docs/fts3-rest.md): jobs of up to `maxFilesPerJob` files of one queue,
 * with deterministic ids known before the call; bulk status per credential; cancels; per-user proxy
 * delegation or bearer tokens; several servers per link with fallbacks; completion messages over STOMP.
 */
export class Fts3Engine implements TransferEngine {
  readonly name = 'fts3'
  readonly jobsOutliveAgent = true
  readonly maxFilesPerJob: number
  readonly pool: ServerPool
  readonly delegator: Delegator
  private readonly client: Fts3Client
  private readonly identities: Identities
  private readonly credentials: CredentialSource
  private readonly owners: JobOwners
  private readonly planned = new Map<string, Planned>()
  private readonly pushed = new AsyncQueue<FileOutcome>()
  private receiver: CompletionReceiver | null = null
  private readonly stompTarget: StompTarget | undefined
  private readonly log: EngineLog

  constructor(private readonly opts: Fts3EngineOptions) {
    this.maxFilesPerJob = opts.maxFilesPerJob
    this.log = opts.log ?? SILENT
    this.pool = new ServerPool(opts.servers)
    this.client = new Fts3Client({ caDir: opts.caDir, timeoutMs: opts.timeoutMs })
    this.identities = new Identities(this.client)
    this.delegator = new Delegator(this.client, this.identities, { log: this.log, ...opts.delegation })
    this.credentials = new CredentialSource({
      proxyPath: opts.proxyPath,
      tokenPath: opts.tokenPath,
      minProxyLifetimeMs: opts.minProxyLifetimeMs,
    })
    this.owners = new JobOwners(opts.lookupJob)
    if (opts.stomp) {
      // asked for TLS with unusable settings (no CA, a key without its certificate...): refuse to start
      this.stompTarget = stompTarget(opts.stomp)
      checkStompFiles(this.stompTarget)
    }
  }

  /** Asks a server of the link who the user is there; job ids are uuid5(vos_id[0], sid) as FTS makes them. */
  async jobIdFactory(ctx: JobIdContext): Promise<(sid: string) => string> {
    const lookup = await this.credentials.forUser(ctx.user, 'submit')
    if (!lookup.ok) throw new CredentialHoldError(ctx.user, lookup.problem)
    const auth = clientAuth(lookup.credential)
    for (const server of this.pool.available(ctx.source, ctx.destination)) {
      let namespace: string
      try {
        namespace = (await this.identities.whoami(server, auth)).vos_id[0]!
        this.pool.ok(server)
      } catch (err) {
        if (!serverTrouble(err)) throw err
        this.pool.failed(server, (err as Error).message)
        continue
      }
      return (sid) => {
        const id = uuid5(namespace, sid)
        if (this.planned.size >= MAX_PLANNED) this.planned.clear()
        this.planned.set(id, { server, sid })
        this.owners.set(id, ctx)
        return id
      }
    }
    throw new Error(this.pool.unavailableReason(ctx.source, ctx.destination))
  }

  async submit(job: EngineJob): Promise<void> {
    const owner = ownerOf(job)
    this.owners.set(job.id, owner)
    const lookup = await this.credentials.forUser(job.user, 'submit')
    if (!lookup.ok) throw new EngineSubmitError(lookup.problem, true, `TRANSFER [13] ${lookup.problem}`)
    const cred = lookup.credential
    const planned = this.planned.get(job.id) ?? (await this.replan(job, cred))
    if (planned === 'found') return
    const body = submissionBody(job, planned.sid, this.opts)
    try {
      const result = await postJob(
        {
          client: this.client,
          delegator: this.delegator,
          onServerTrouble: (server, why) => this.pool.failed(server, why),
        },
        planned.server,
        job.user,
        cred,
        job.id,
        body,
      )
      this.pool.ok(planned.server)
      if (result === 'adopted')
        this.log.info({ jobId: job.id, server: planned.server }, 'FTS already had the job: adopted')
    } catch (err) {
      if (!(err instanceof StrayJobError)) throw err
      // not a job we can track: cancel it, ask who we are again, and let the files be claimed anew
      this.identities.forget(planned.server, clientAuth(cred))
      await cancelAtFts(this.client, planned.server, clientAuth(cred), err.strayJobId).catch(() => false)
      throw new EngineSubmitError(err.message, true)
    }
    this.planned.delete(job.id)
    this.owners.set(job.id, owner, planned.server)
  }

  /**
   * A job handed over again without a plan from this process (a resubmission after a crash): if a server of
   * its link already has it, adopt it; otherwise rebuild its sid and submit where that gives the same id.
   */
  private async replan(job: EngineJob, cred: UserCredential): Promise<Planned | 'found'> {
    const known = { owner: ownerOf(job) }
    const where = await findJobs({ client: this.client, pool: this.pool, credentials: this.credentials }, [
      { jobId: job.id, known },
    ])
    const found = where.found.get(job.id)
    if (found) {
      this.owners.set(job.id, known.owner, found.server)
      this.log.info({ jobId: job.id, server: found.server }, 'resubmitted job found at FTS: adopted')
      return 'found'
    }
    const why = where.undecided.get(job.id)
    if (why !== undefined) throw inDoubt(job.id, `cannot tell whether FTS has it (${why})`)
    const sid = sidOf(job)
    const auth = clientAuth(cred)
    for (const server of this.pool.available(job.source, job.destination)) {
      try {
        if (uuid5((await this.identities.whoami(server, auth)).vos_id[0]!, sid) === job.id)
          return { server, sid }
      } catch (err) {
        if (!serverTrouble(err)) throw err
        this.pool.failed(server, (err as Error).message)
      }
    }
    // members left the job since it was claimed, or the VO id changed: nowhere has it, so a new claim is safe
    throw new EngineSubmitError(`job ${job.id} is at no FTS server and cannot be rebuilt under its id`, true)
  }

  async status(jobIds: string[]): Promise<EngineJobStatus[]> {
    const asked: { jobId: string; known: KnownJob }[] = []
    for (const jobId of jobIds) {
      const known = await this.owners.get(jobId)
      if (known) asked.push({ jobId, known })
      else this.log.warn({ jobId }, 'FTS job of unknown owner: not polled')
    }
    const where = await findJobs(
      { client: this.client, pool: this.pool, credentials: this.credentials },
      asked,
    )
    const out: EngineJobStatus[] = []
    for (const [jobId, found] of where.found) {
      this.owners.located(jobId, found.server)
      const mapped = mapJob(jobId, found.job)
      const checked = await verifyDone(mapped.done, this.opts.verifyChecksum, this.opts.storage)
      const files = mapped.status.files.map((o) => checked.get(o) ?? o)
      out.push({ ...mapped.status, files })
      if (mapped.status.state === 'finished') this.owners.forget(jobId)
    }
    for (const jobId of where.lost) {
      out.push({ jobId, state: 'unknown', files: [], pending: [] })
      this.owners.forget(jobId)
    }
    for (const [jobId, why] of where.undecided)
      this.log.warn({ jobId, why }, 'FTS job status unknown this time')
    return out
  }

  async cancel(jobId: string, transferIds?: string[]): Promise<void> {
    const known = await this.owners.get(jobId)
    if (!known) {
      this.log.warn({ jobId }, 'cannot cancel an FTS job of unknown owner')
      return
    }
    const lookup = await this.credentials.forUser(known.owner.user, 'read')
    if (!lookup.ok) {
      this.log.warn({ jobId, why: lookup.problem }, 'cannot cancel at FTS without a valid credential')
      return
    }
    const auth = clientAuth(lookup.credential)
    const servers = known.server
      ? [known.server]
      : this.pool.candidates(known.owner.source, known.owner.destination)
    for (const server of servers) {
      if (await cancelAtFts(this.client, server, auth, jobId, transferIds)) {
        this.owners.located(jobId, server)
        return
      }
    }
  }

  /** Completion messages, when a broker is configured; polling covers whatever they miss. */
  outcomes(): AsyncIterable<FileOutcome> {
    const stomp = this.opts.stomp
    const target = this.stompTarget
    if (stomp && target && !this.receiver) {
      // only end-to-end verified copies may be DONE straight from a message (invariant 4)
      const trusted = this.opts.verifyChecksum === 'both' || this.opts.verifyChecksum === 'target'
      this.receiver = new CompletionReceiver({
        target,
        topic: stomp.topic,
        filter: { instance: this.opts.instance, ...(stomp.vo ? { vo: stomp.vo } : {}) },
        onOutcome: (o) => {
          if (o.result !== 'done' || trusted) this.pushed.push(o)
        },
        log: (level, msg) => this.log[level]({ broker: target.endpoint.display }, msg),
      })
      this.receiver.start()
    }
    return this.pushed
  }

  /** The completion-message subscription: its broker, whether it is up, and why not; null without one. */
  stompStatus(): { broker: string; connected: boolean; problem: string | null } | null {
    if (!this.stompTarget) return null
    return {
      broker: this.stompTarget.endpoint.display,
      connected: this.receiver?.connected ?? false,
      problem: this.receiver?.problem ?? null,
    }
  }

  async credentialStatus(user: string): Promise<{ problem: string | null; changedAt: number | null }> {
    const lookup = await this.credentials.forUser(user, 'submit')
    return lookup.ok
      ? { problem: null, changedAt: lookup.credential.changedAt }
      : { problem: lookup.problem, changedAt: lookup.changedAt }
  }

  async close(): Promise<void> {
    await this.receiver?.close()
    this.receiver = null
    this.pushed.close()
    await this.client.close()
  }
}

function ownerOf(job: EngineJob): JobOwner {
  return {
    user: job.user,
    group: job.group,
    role: job.role,
    source: job.source,
    destination: job.destination,
  }
}
