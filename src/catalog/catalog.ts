/**
 * The data catalog as the publisher sees it: one idempotent call per block. The Rucio implementation is in
 * `rucio/`; the names (container = the request's dataset, block = a Rucio dataset, file DID = the
 * destination LFN) follow docs/publication.md.
 */

/** How a catalog failure is retried: `catalog-transient` with backoff, `catalog-permanent` not until asked. */
export type CatalogFailureClass = 'catalog-transient' | 'catalog-permanent'

/** A failure of a catalog call, with a reason that says what to check or change. */
export class CatalogError extends Error {
  constructor(
    readonly failureClass: CatalogFailureClass,
    readonly reason: string,
    /** the HTTP status the catalog answered, if it answered */
    readonly status?: number,
  ) {
    super(reason)
    this.name = 'CatalogError'
  }
}

/** One delivered file of a block. */
export interface CatalogFile {
  /** the transfer record's id: results name files by it */
  id: string
  /** the file's DID name: its destination LFN */
  lfn: string
  bytes: number
  /** 8 lower-case hex digits */
  adler32: string
  /** where ASO wrote the file (the destination URL); registered with the replica on a non-deterministic RSE */
  pfn: string
}

/** A block to publish: a Rucio dataset of `files`, attached to the container `container`, ruled at `rse`. */
export interface CatalogBlock {
  /** the scope of the container, the block and every file (user.alice, group.higgs) */
  scope: string
  /** the request's dataset name (/Primary/Processed/TIER) */
  container: string
  /** the block's name (`catalog.blockName` filled in) */
  name: string
  /** the RSE of the destination site */
  rse: string
  /** the account that owns the block's replication rule */
  ruleAccount: string
  files: readonly CatalogFile[]
}

/** What publishing a block did. */
export interface BlockPublication {
  /** ids of the files registered, verified and attached to the block */
  published: string[]
  /** files refused one by one (the catalog holds other bytes or adler32, or maps the LFN elsewhere): never attached */
  rejected: { id: string; reason: string }[]
  /** the replication rule covering the block (null when no file was published) */
  ruleId: string | null
}

export interface Catalog {
  /** "rucio" */
  readonly type: string
  /** where it is, for messages (the URL without credentials) */
  readonly url: string
  /**
   * Registers the block's files as replicas at its RSE, reads them back and compares bytes and adler32, creates
   * the container and the block (adopting existing ones), attaches the verified files to the block and the
   * block to the container, puts a rule on the block and closes it. Idempotent: a call repeated after a crash
   * at any point finishes the work without registering anything twice. Throws CatalogError for the block as a
   * whole; files refused individually are in `rejected`.
   */
  publishBlock(block: CatalogBlock, signal?: AbortSignal): Promise<BlockPublication>
  close(): Promise<void>
}
