import { randomUUID } from 'node:crypto'
import { type CatalogBlock, CatalogError, type CatalogFile } from '../catalog/catalog.js'
import type { CatalogConfig } from '../config/schema.js'
import {
  blockName,
  type CatalogNaming,
  catalogPlace,
  closeReason,
  describeClose,
} from '../domain/publication.js'
import { backoffDelay } from '../domain/retry-policy.js'
import type { BlockFill } from '../store/ops/publication.js'
import type { DueBlock } from '../store/ops/publication-reads.js'
import type { LoopContext } from './context.js'
import { publicationCalls, publicationSeconds } from './metrics.js'

type PublisherStore =
  | 'readyForBlocks'
  | 'fillBlocks'
  | 'openBlocks'
  | 'startPublishing'
  | 'duePublications'
  | 'recordPublished'
  | 'recordPublishFailure'

/** Blocks published at once: the catalog is one service shared by every block (Rucio serialises writes). */
export const CONCURRENT_BLOCKS = 2

/**
 * Publication (docs/publication.md): DONE files that asked for it join the open block of their user, dataset
 * and destination; a block closes when full, when no file of its dataset is on its way any more, or after
 * `blockCloseAfter`; a closed block is registered in the catalog. Runs on the leader only.
 */
export class Publisher {
  readonly name = 'publisher'

  constructor(private readonly ctx: LoopContext<PublisherStore>) {}

  async run(): Promise<number> {
    const cfg = this.ctx.config.catalog
    if (!cfg || !this.ctx.catalog) return 0
    const joined = await this.fillBlocks(cfg)
    await this.closeBlocks(cfg)
    const published = await this.publishDue(cfg)
    return Math.max(joined, published)
  }

  /** Ready files into blocks; returns how many were read (a full batch means: run again at once). */
  private async fillBlocks(cfg: CatalogConfig): Promise<number> {
    const { store, agentId } = this.ctx
    const ready = await store.readyForBlocks(this.ctx.config.agent.batchSize)
    if (ready.length === 0) return 0
    const naming: CatalogNaming = {
      scope: cfg.scope,
      groupScope: cfg.groupScope,
      ruleAccount: cfg.rule.account,
      rses: cfg.rses,
    }
    const fills = new Map<string, BlockFill & { ids: string[] }>()
    for (const f of ready) {
      const place = catalogPlace(naming, f)
      const key = { user: f.user, dataset: f.dataset, destination: f.destination, ...place }
      const k = JSON.stringify(key)
      const fill = fills.get(k) ?? { key, ids: [], newNames: [] }
      fill.ids.push(f.id)
      fills.set(k, fill)
    }
    for (const fill of fills.values()) {
      const blocks = Math.ceil(fill.ids.length / cfg.maxFilesPerBlock) + 1
      fill.newNames = Array.from({ length: blocks }, () =>
        blockName(cfg.blockName, fill.key.dataset, fill.key.user, randomUUID()),
      )
    }
    await store.fillBlocks([...fills.values()], {
      maxFiles: cfg.maxFilesPerBlock,
      now: this.ctx.now(),
      actor: agentId,
    })
    return ready.length
  }

  private async closeBlocks(cfg: CatalogConfig): Promise<void> {
    const { store, agentId } = this.ctx
    for (const b of await store.openBlocks()) {
      const reason = closeReason(b, cfg, this.ctx.now())
      if (!reason) continue
      const n = await store.startPublishing(
        b.name,
        { reason, description: describeClose(reason, cfg.maxFilesPerBlock) },
        this.ctx.now(),
        agentId,
      )
      this.ctx.log.info({ block: b.name, files: n, reason }, 'publication: block closed')
    }
  }

  private async publishDue(cfg: CatalogConfig): Promise<number> {
    const due = await this.ctx.store.duePublications(this.ctx.now(), 16)
    let files = 0
    const queue = [...due]
    const worker = async () => {
      for (let b = queue.shift(); b; b = queue.shift()) files += await this.publish(b, cfg)
    }
    await Promise.all(Array.from({ length: CONCURRENT_BLOCKS }, worker))
    return files
  }

  /** One catalog call for one block, and what it answered recorded. */
  private async publish(b: DueBlock, cfg: CatalogConfig): Promise<number> {
    const { store, agentId, log } = this.ctx
    const { files, unmapped } = this.catalogFiles(b)
    const block: CatalogBlock = {
      scope: b.scope,
      container: b.dataset,
      name: b.name,
      rse: b.rse,
      ruleAccount: b.ruleAccount,
      files,
    }
    const started = performance.now()
    const observe = (result: string) => {
      publicationCalls.inc({ result })
      publicationSeconds.observe({ result }, (performance.now() - started) / 1000)
    }
    try {
      const result = files.length
        ? await this.ctx.catalog!.publishBlock(block)
        : { published: [], rejected: [], ruleId: null }
      await store.recordPublished(
        b.name,
        { ...result, rejected: [...result.rejected, ...unmapped] },
        this.ctx.now(),
        agentId,
      )
      log.info(
        {
          block: b.name,
          published: result.published.length,
          rejected: result.rejected.length + unmapped.length,
        },
        'publication: block published',
      )
      return b.files.length
    } catch (e) {
      const err =
        e instanceof CatalogError
          ? e
          : new CatalogError('catalog-transient', `publishing failed: ${(e as Error).message}`)
      observe(err.failureClass)
      const attempt = b.attempts + 1
      const again = err.failureClass === 'catalog-transient' && attempt < cfg.maxAttempts
      const now = this.ctx.now()
      const policy = {
        initialMs: cfg.backoff.initial,
        factor: cfg.backoff.factor,
        maxMs: cfg.backoff.max,
        jitter: 0.2,
      }
      await store.recordPublishFailure(
        b.name,
        {
          failureClass: err.failureClass,
          reason: err.reason,
          retryAt: again ? now + backoffDelay(policy, attempt) : null,
        },
        now,
        agentId,
      )
      log.warn(
        { block: b.name, class: err.failureClass, attempt, again, reason: err.reason },
        'publication: catalog call failed',
      )
      return 0
    }
  }

  /** The block's files with the PFN ASO wrote each to; a file whose site maps it nowhere is refused alone. */
  private catalogFiles(b: DueBlock): { files: CatalogFile[]; unmapped: { id: string; reason: string }[] } {
    const files: CatalogFile[] = []
    const unmapped: { id: string; reason: string }[] = []
    for (const f of b.files) {
      const endpoint = this.ctx.storage.pick(this.ctx.sites.endpoints(b.destination, f.lfn))
      if (!endpoint) {
        unmapped.push({
          id: f.id,
          reason: `site ${b.destination} maps ${f.lfn} to no storage URL ASO can name`,
        })
        continue
      }
      files.push({ id: f.id, lfn: f.lfn, bytes: f.size, adler32: f.adler32, pfn: endpoint.url })
    }
    return { files, unmapped }
  }
}
