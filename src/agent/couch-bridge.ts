/**
 * The CouchDB bridge (docs/couchdb-bridge.md): the original ASO's queue as an input, its documents kept up to
 * date. Two leader loops share one client:
 * - `couch-ingest` follows the database's `_changes` feed from the checkpoint kept in the store: a document in
 *   state `new` becomes an inject request, validated as the API validates one, as its `user` (a configured
 *   user; groups and roles from `users:`); a known document set to `kill`/`killed` is a kill, set back to `new`
 *   a retry (or a newer job retry, or a re-post). The bridge's own writes come back on the feed and are known
 *   by their revision (or, after a crash, by the state the write set).
 * - `couch-writeback` follows the event stream (a cursor in the store) to mark the documents of changed
 *   transfers due, and writes them in `_bulk_docs` batches, over the document's latest revision only when the
 *   bridge has accounted for it: a revision written by someone else waits for the feed to interpret it first.
 *   A `conflict` is read again and merged next round; `forbidden` is reported.
 */

import type { CouchConfig } from '../config/schema.js'
import type { Identity } from '../domain/identity.js'
import { validateRequest } from '../domain/request.js'
import { type Change, CouchClient, type CouchDoc, readCredentials } from '../ingest/couchdb/client.js'
import { describeErrors, intentOf, requestOf, writeBackFields } from '../ingest/couchdb/document.js'
import { requestContext } from '../sites/request-context.js'
import type { CouchCounter, CouchDocRow, CouchDocUpdate, CouchWriteResult } from '../store/ops/couch.js'
import type { InjectItem } from '../store/ops/inject.js'
import type { LoopContext } from './context.js'
import { couchDocuments, couchLagSeconds, couchPendingWriteBacks, couchWrites } from './couch-metrics.js'

type IngestStore = 'couchFeed' | 'couchDocs' | 'saveCouchChanges' | 'inject' | 'kill' | 'retry' | 'getMany'
type WriteBackStore =
  | 'markCouchWriteBacks'
  | 'dueCouchWriteBacks'
  | 'setCouchIntents'
  | 'recordCouchWriteBacks'
  | 'couchStatus'
  | 'couchFeed'

/** The client of the configured database, made on first use and shared by both loops. */
export class CouchLink {
  private client: Promise<CouchClient> | null = null

  constructor(readonly cfg: CouchConfig) {}

  /** The feed's name in the store: the server and database (no credentials). */
  get name(): string {
    return `${this.cfg.url}/${encodeURIComponent(this.cfg.database)}`
  }

  get(): Promise<CouchClient> {
    this.client ??= (async () => {
      const credentials = this.cfg.credentialsFile ? await readCredentials(this.cfg.credentialsFile) : null
      return new CouchClient({
        url: this.cfg.url,
        database: this.cfg.database,
        credentials,
        timeoutMs: this.cfg.timeout,
      })
    })()
    this.client.catch(() => {
      this.client = null
    })
    return this.client
  }

  async close(): Promise<void> {
    const c = this.client
    this.client = null
    if (c) await (await c).close()
  }
}

const ACTOR = 'couchdb'

export class CouchIngest {
  readonly name = 'couch-ingest'
  private readonly stopping = new AbortController()

  constructor(
    private readonly ctx: LoopContext<IngestStore>,
    private readonly link: CouchLink,
  ) {}

  /** Cuts a feed read in progress (agent stopping). */
  stop(): void {
    this.stopping.abort(new Error('agent stopping'))
  }

  async run(): Promise<number> {
    if (this.stopping.signal.aborted) return 0
    const { cfg } = this.link
    const { store } = this.ctx
    const client = await this.link.get()
    const feed = await store.couchFeed(this.link.name, this.ctx.now())
    let page: Awaited<ReturnType<CouchClient['changes']>>
    try {
      page = await client.changes({
        since: feed.seq,
        limit: cfg.batchSize,
        feed: cfg.feed,
        waitMs: cfg.pollTimeout,
        heartbeatMs: cfg.heartbeat,
        signal: this.stopping.signal,
      })
    } catch (e) {
      if (this.stopping.signal.aborted) return 0
      // kept for `aso couch status`; the runner logs it and runs the loop again after its interval
      const lastError = (e as Error).message
      await store.saveCouchChanges(
        this.link.name,
        [],
        { seq: feed.seq, caughtUp: false, behind: feed.behind, counts: {}, lastError },
        this.ctx.now(),
      )
      throw e
    }
    if (this.stopping.signal.aborted) return 0
    this.ctx.log.debug(
      { since: feed.seq, changes: page.results.length, lastSeq: page.lastSeq, atHead: page.atHead },
      'couch: feed read',
    )
    const counts = await this.apply(page.results)
    await store.saveCouchChanges(
      this.link.name,
      counts.docs,
      {
        seq: page.lastSeq,
        caughtUp: page.atHead,
        behind: page.pending,
        counts: counts.counters,
        lastError: null,
      },
      this.ctx.now(),
    )
    couchLagSeconds.set(page.atHead ? 0 : couchLag(feed, this.ctx.now()))
    if (counts.docs.length) this.ctx.wake('couch-writeback')
    if (counts.counters.ingested || counts.counters.retries) this.ctx.wake('submitter')
    if (counts.counters.kills) this.ctx.wake('killer')
    // a read that returned changes is followed by the next at once; one that waited idle, too
    return page.results.length > 0 ? this.ctx.config.agent.batchSize : 0
  }

  /** What one batch of changes asks; returns the document rows to store and the counters. */
  private async apply(
    changes: readonly Change[],
  ): Promise<{ docs: CouchDocUpdate[]; counters: Partial<Record<CouchCounter, number>> }> {
    const { store } = this.ctx
    // the feed has each document once, at its latest revision; a batch read across a restart may repeat one
    const latest = new Map<string, Change>()
    for (const c of changes) if (!c.id.startsWith('_design/')) latest.set(c.id, c)
    const known = await store.couchDocs([...latest.keys()])
    const docs: CouchDocUpdate[] = []
    const counters: Partial<Record<CouchCounter, number>> = {}
    const count = (k: CouchCounter, n = 1) => {
      counters[k] = (counters[k] ?? 0) + n
    }
    const toInject: { change: Change; row: CouchDocRow | undefined }[] = []
    const toKill: { change: Change; row: CouchDocRow }[] = []
    for (const change of latest.values()) {
      const row = known.get(change.id)
      if (change.deleted || !change.doc) {
        if (row && !row.deleted)
          docs.push({ docId: change.id, deleted: true, seenRev: change.rev ?? undefined })
        continue
      }
      if (!row) {
        if (change.doc.state === 'new') toInject.push({ change, row })
        else couchDocuments.inc({ outcome: 'ignored' })
        continue
      }
      // our own write coming back, or a revision already acted on
      if (change.rev !== null && (change.rev === row.seenRev || change.rev === row.writtenRev)) continue
      const intent = intentOf(change.doc.state, [row.docState, row.intentState])
      if (intent === 'inject') toInject.push({ change, row })
      else if (intent === 'kill') toKill.push({ change, row })
      else {
        // another field changed, or a state ASO owns was set by someone else: ASO's view is written back over it
        docs.push({ docId: change.id, seenRev: change.rev ?? undefined, deleted: false, dirty: true })
      }
    }
    if (toInject.length) await this.inject(toInject, docs, count)
    if (toKill.length) {
      for (const { change, row } of toKill) {
        if (row.transferId) {
          const r = await store.kill(
            { ids: [row.transferId] },
            `killed in CouchDB: document ${change.id} set to ${String(change.doc?.state)}`,
            this.ctx.now(),
            ACTOR,
          )
          if (r.killed + r.killing > 0) {
            count('kills')
            couchDocuments.inc({ outcome: 'kill' })
          }
        }
        // the document keeps its asked state until ASO confirms (KILLED) or writes what happened instead
        docs.push({
          docId: change.id,
          seenRev: change.rev ?? undefined,
          docState: String(change.doc?.state),
          deleted: false,
          dirty: true,
        })
      }
    }
    return { docs, counters }
  }

  private async inject(
    items: readonly { change: Change; row: CouchDocRow | undefined }[],
    docs: CouchDocUpdate[],
    count: (k: CouchCounter, n?: number) => void,
  ): Promise<void> {
    const { store, config, sites } = this.ctx
    const cfg = this.link.cfg
    const valid: (InjectItem & { docId: string })[] = []
    const byDoc = new Map<string, { change: Change; row: CouchDocRow | undefined; note: string | null }>()
    const refuse = (change: Change, reason: string, transferId: string | null) => {
      count('rejected')
      couchDocuments.inc({ outcome: 'refused' })
      docs.push({
        docId: change.id,
        seenRev: change.rev ?? undefined,
        docState: 'new',
        transferId,
        rejectedReason: reason.slice(0, 2000),
        deleted: false,
        dirty: true,
      })
    }
    for (const { change, row } of items) {
      const doc = change.doc!
      const { raw, publicationNote } = requestOf(doc, {
        outputDatasets: cfg.outputDatasets,
        catalog: config.catalog !== undefined,
      })
      const user = typeof doc.user === 'string' ? doc.user : ''
      const configured = config.users[user]
      if (!configured) {
        refuse(
          change,
          `refused by ASO: user "${user}" is not a user of this ASO (aso.yaml users:); only configured users' documents are taken`,
          row?.transferId ?? null,
        )
        continue
      }
      const caller: Identity = {
        name: user,
        role: 'user',
        groups: configured.groups,
        vomsRoles: configured.vomsRoles,
      }
      const v = validateRequest(raw, requestContext(config, sites, caller))
      if (!v.ok) {
        refuse(change, describeErrors(v.errors), row?.transferId ?? null)
        continue
      }
      byDoc.set(change.id, { change, row, note: publicationNote })
      valid.push({ id: v.id, request: v.request, docId: change.id })
    }
    if (valid.length === 0) return
    const results = await store.inject(
      valid.map(({ id, request }) => ({ id, request })),
      { now: this.ctx.now(), actor: ACTOR, maxAttempts: config.retry.maxAttempts },
    )
    // a failed or killed file whose document was set back to new: the old way's resubmission
    const retry: string[] = []
    const unchanged = valid.filter((_, i) => results[i]!.status === 'unchanged').map((v) => v.id)
    const ended = new Map((await store.getMany(unchanged)).map((t) => [t.id, t]))
    results.forEach((r, i) => {
      const item = valid[i]!
      const { change, row, note } = byDoc.get(item.docId)!
      if (r.status === 'rejected') {
        refuse(change, describeErrors(r.error ? [r.error] : []), row?.transferId ?? null)
        return
      }
      if (r.status === 'created') {
        count('ingested')
        couchDocuments.inc({ outcome: 'ingested' })
      }
      const t = ended.get(item.id)
      if (r.status === 'unchanged' && t && (t.state === 'FAILED' || t.state === 'KILLED')) retry.push(item.id)
      docs.push({
        docId: change.id,
        transferId: item.id,
        seenRev: change.rev ?? undefined,
        docState: 'new',
        rejectedReason: null,
        publicationNote: note,
        deleted: false,
        dirty: true,
      })
    })
    if (retry.length) {
      const r = await store.retry({ ids: retry }, this.ctx.now(), ACTOR)
      count('retries', r.retried)
      for (let i = 0; i < r.retried; i++) couchDocuments.inc({ outcome: 'retry' })
    }
  }
}

export class CouchWriteBack {
  readonly name = 'couch-writeback'
  private lastGauge = 0

  constructor(
    private readonly ctx: LoopContext<WriteBackStore>,
    private readonly link: CouchLink,
  ) {}

  async run(): Promise<number> {
    const { store } = this.ctx
    const { cfg } = this.link
    const name = this.link.name
    const marked = await store.markCouchWriteBacks(name, this.ctx.config.agent.batchSize, this.ctx.now())
    const due = await store.dueCouchWriteBacks(name, cfg.batchSize)
    let written = 0
    if (due.length) {
      const client = await this.link.get()
      const current = await client.getDocs(due.map((d) => d.doc.docId))
      const results: CouchWriteResult[] = []
      const writes: { doc: CouchDoc; pending: number; state: string }[] = []
      const now = this.ctx.now()
      for (const { doc: row, transfer } of due) {
        const doc = current.get(row.docId)
        if (!doc) {
          results.push({ docId: row.docId, pending: row.pending, outcome: 'gone' })
          continue
        }
        // a revision someone else wrote: the feed interprets it first (kill, retry), then it is merged
        if (doc._rev !== row.seenRev && doc._rev !== row.writtenRev) {
          results.push({ docId: row.docId, pending: row.pending, outcome: 'waiting' })
          continue
        }
        const patch = writeBackFields(
          doc,
          { transfer, rejectedReason: row.rejectedReason, publicationNote: row.publicationNote },
          now,
        )
        if (!patch) {
          results.push({
            docId: row.docId,
            pending: row.pending,
            outcome: 'unchanged',
            state: String(doc.state),
          })
          continue
        }
        writes.push({ doc: { ...doc, ...patch.fields }, pending: row.pending, state: patch.state })
      }
      if (writes.length) {
        await store.setCouchIntents(
          writes.map((w) => ({ docId: w.doc._id, state: w.state })),
          now,
        )
        const answers = await client.bulkDocs(writes.map((w) => w.doc))
        answers.forEach((a, i) => {
          const w = writes[i]!
          if (!a.error && a.rev) {
            written++
            couchWrites.inc({ result: 'written' })
            results.push({
              docId: w.doc._id,
              pending: w.pending,
              outcome: 'written',
              rev: a.rev,
              state: w.state,
            })
          } else if (a.error === 'conflict') {
            couchWrites.inc({ result: 'conflict' })
            results.push({
              docId: w.doc._id,
              pending: w.pending,
              outcome: 'conflict',
              error: 'conflict: changed by someone else meanwhile; read again and merged next round',
            })
          } else if (a.error === 'forbidden' || a.error === 'unauthorized') {
            couchWrites.inc({ result: 'forbidden' })
            this.ctx.log.warn({ doc: w.doc._id, reason: a.reason }, 'couch: write-back refused by CouchDB')
            results.push({
              docId: w.doc._id,
              pending: w.pending,
              outcome: 'forbidden',
              error: `${a.error}: ${a.reason ?? ''} (validate_doc_update refused the bridge's write)`,
            })
          } else {
            couchWrites.inc({ result: 'error' })
            results.push({
              docId: w.doc._id,
              pending: w.pending,
              outcome: 'error',
              error: `${a.error ?? 'no revision in the answer'}: ${a.reason ?? ''}`,
            })
          }
        })
      }
      await store.recordCouchWriteBacks(name, results, this.ctx.now())
    }
    await this.gauges()
    return Math.max(marked, written)
  }

  /** The lag and pending gauges, from the store, at most every 5 s. */
  private async gauges(): Promise<void> {
    const now = this.ctx.now()
    if (now - this.lastGauge < 5_000) return
    this.lastGauge = now
    const s = await this.ctx.store.couchStatus(this.link.name)
    couchPendingWriteBacks.set(s.pending)
    if (s.feed) couchLagSeconds.set(couchLag(s.feed, now))
  }
}

/** Seconds since the bridge last read the feed to its head (it reads to the head every pollTimeout when idle). */
export function couchLag(feed: { caughtUpAt: number | null; updatedAt: number }, now: number): number {
  return Math.max(0, (now - (feed.caughtUpAt ?? feed.updatedAt)) / 1000)
}
