/**
 * The Catalog on a Rucio server's REST API (docs/rucio-notes.md has the order of calls and why). Each step
 * adopts what an earlier run did, so publishBlock repeated after a crash at any point finishes the job:
 *   RSE (cached) → container → block (and whether it is closed) → [deterministic: lfns2pfns] → replicas →
 *   read-back → attach files → attach block → rule → close.
 * The DIDs come first so that a bad scope or name fails before any replica is written.
 */
import type { BlockPublication, Catalog, CatalogBlock, CatalogFile } from '../catalog.js'
import { RucioTokens } from './auth.js'
import { RucioClient } from './client.js'
import { attach, closeDataset, type DidStep, ensureDid, fileNames } from './dids.js'
import type { RefusalContext } from './errors.js'
import { RucioHttp } from './http.js'
import {
  checkDeterministicPfns,
  type Rejection,
  type ReplicaStep,
  registerReplicas,
  type Sorted,
  verifyReplicas,
} from './replicas.js'
import { RseCache } from './rses.js'
import { ensureRule } from './rules.js'

export interface RucioCatalogOptions {
  /** the server, e.g. https://rucio.example.org (http:// for a test server) */
  url: string
  /** the service's Rucio account (it needs admin rights: it registers replicas in users' scopes) */
  account: string
  /** its userpass identity */
  username: string
  password: string
  /** per request (default 60 s) */
  timeoutMs?: number
  /** files per POST /replicas, /replicas/list, lfns2pfns and attachment call (default 200) */
  batchSize?: number
  /** the token is renewed this long before the expiry Rucio announces (default 5 min) */
  tokenRenewMarginMs?: number
}

export class RucioCatalog implements Catalog {
  readonly type = 'rucio'
  readonly url: string
  private readonly http: RucioHttp
  private readonly client: RucioClient
  private readonly rses: RseCache
  private readonly batchSize: number

  constructor(private readonly opts: RucioCatalogOptions) {
    this.url = opts.url.replace(/\/+$/, '')
    this.http = new RucioHttp(this.url, opts.timeoutMs ?? 60_000)
    const tokens = new RucioTokens(this.http, opts, opts.tokenRenewMarginMs ?? 5 * 60_000)
    this.client = new RucioClient(this.http, tokens)
    this.rses = new RseCache(this.client)
    this.batchSize = opts.batchSize ?? 200
  }

  async publishBlock(block: CatalogBlock, signal?: AbortSignal): Promise<BlockPublication> {
    const ctx: RefusalContext = {
      rse: block.rse,
      scope: block.scope,
      ruleAccount: block.ruleAccount,
      serviceAccount: this.opts.account,
      block: block.name,
    }
    const base = { client: this.client, scope: block.scope, ctx, batchSize: this.batchSize, signal }
    const rse = await this.rses.get(block.rse, ctx, signal)
    const dids: DidStep = base
    const replicas: ReplicaStep = { ...base, rse }
    const rejected: Rejection[] = []
    const keep = (sorted: Sorted): CatalogFile[] => {
      rejected.push(...sorted.rejected)
      return sorted.ok
    }

    await ensureDid(dids, block.container, 'CONTAINER')
    const { open } = await ensureDid(dids, block.name, 'DATASET')
    // a closed block was filled by an earlier run: its files are registered, others can no longer join it
    let files = open ? [...block.files] : keep(await inClosedBlock(dids, block))
    if (rse.deterministic) files = keep(await checkDeterministicPfns(replicas, files))
    if (open) files = keep(await registerReplicas(replicas, files))
    files = keep(await verifyReplicas(replicas, files))
    if (files.length === 0) return { published: [], rejected, ruleId: null }

    if (open)
      await attach(
        dids,
        block.name,
        files.map((f) => f.lfn),
      )
    await attach(dids, block.container, [block.name])
    const ruleId = await ensureRule(base, block.name, block.ruleAccount, block.rse)
    if (open) await closeDataset(dids, block.name)
    return { published: files.map((f) => f.id), rejected, ruleId }
  }

  close(): Promise<void> {
    return this.http.close()
  }
}

/** The block's files that the closed block holds, and the others rejected. */
async function inClosedBlock(step: DidStep, block: CatalogBlock): Promise<Sorted> {
  const names = await fileNames(step, block.name)
  const sorted: Sorted = { ok: [], rejected: [] }
  for (const f of block.files) {
    if (names.has(f.lfn)) sorted.ok.push(f)
    else
      sorted.rejected.push({
        id: f.id,
        reason: `the block ${block.scope}:${block.name} is closed in Rucio without ${f.lfn} (closed by an earlier run or by someone else): the file needs another block`,
      })
  }
  return sorted
}
