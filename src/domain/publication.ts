/**
 * Publication: delivered outputs registered in the data catalog as the user's datasets, block by block
 * (docs/publication.md). A file's publication state moves on its own, beside its transfer state:
 *
 *   NOT_REQUIRED                 publish: false, a log file, or a transfer that ended FAILED or KILLED
 *   PENDING ─► PUBLISHING ─► PUBLISHED
 *                  │  ▲
 *                  ▼  │ (aso publish --retry)
 *                FAILED
 *
 * PENDING files that are DONE join the open block of their (user, dataset, destination, scope); a closed block
 * moves its files to PUBLISHING before the catalog is called (mark before call).
 */
import type { PublicationState, TransferRecord } from './transfer.js'

export const PUBLICATION_STATES = [
  'NOT_REQUIRED',
  'PENDING',
  'PUBLISHING',
  'PUBLISHED',
  'FAILED',
] as const satisfies readonly PublicationState[]

/** A block's life: files join while OPEN; PUBLISHING once closed; FAILED blocks go back to PUBLISHING on a retry. */
export const BLOCK_STATES = ['OPEN', 'PUBLISHING', 'PUBLISHED', 'FAILED'] as const
export type BlockState = (typeof BLOCK_STATES)[number]

/** The failure classes of publication: never charged to the transfer. */
export type PublicationFailureClass = 'catalog-transient' | 'catalog-permanent'

/** `/Primary/Processed/TIER`, as CMS datasets are named. */
export const DATASET_NAME = /^\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\/[A-Z0-9-]+$/

/** Whether a request's file is published once DONE: outputs that asked for it; log files never. */
export function isPublishable(r: Pick<TransferRecord, 'publish' | 'type'>): boolean {
  return r.publish && r.type === 'output'
}

/** The publication state a file starts with (at inject, after a supersede or a retry). */
export function initialPublicationState(r: Pick<TransferRecord, 'publish' | 'type'>): PublicationState {
  return isPublishable(r) ? 'PENDING' : 'NOT_REQUIRED'
}

/** Fills `{name}` placeholders; an unknown placeholder is an error (config validation catches it first). */
export function fillTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{([a-z]+)\}/g, (whole, key: string) => {
    const v = values[key]
    if (v === undefined) throw new Error(`unknown placeholder ${whole} in "${template}"`)
    return v
  })
}

/** The placeholders each catalog template may use. */
export const TEMPLATE_PLACEHOLDERS = {
  scope: ['user'],
  groupScope: ['user', 'group'],
  ruleAccount: ['user'],
  blockName: ['dataset', 'uuid', 'user'],
} as const

/** The placeholders of `template` that are not in `allowed`. */
export function unknownPlaceholders(template: string, allowed: readonly string[]): string[] {
  return [...template.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!).filter((k) => !allowed.includes(k))
}

/** The group a destination LFN belongs to: `/store/group/<g>/…` (CMS group space), else null. */
export function groupOfLfn(lfn: string): string | null {
  const m = /^\/store\/group\/([A-Za-z0-9_.-]+)\//.exec(lfn)
  return m ? m[1]! : null
}

export interface CatalogNaming {
  scope: string
  groupScope: string
  ruleAccount: string
  /** ASO site → RSE; a site not listed is an RSE of its own name */
  rses: Readonly<Record<string, string>>
}

/** Where one delivered file goes in the catalog: its scope, RSE and the owner of its block's rule. */
export interface CatalogPlace {
  scope: string
  rse: string
  ruleAccount: string
}

/** The catalog place of a file: outputs under /store/group/<g>/ go to the group's scope, the rest to the user's. */
export function catalogPlace(
  naming: CatalogNaming,
  r: Pick<TransferRecord, 'user' | 'destination' | 'destinationLfn'>,
): CatalogPlace {
  const group = groupOfLfn(r.destinationLfn)
  return {
    scope: group
      ? fillTemplate(naming.groupScope, { user: r.user, group })
      : fillTemplate(naming.scope, { user: r.user }),
    rse: naming.rses[r.destination] ?? r.destination,
    ruleAccount: fillTemplate(naming.ruleAccount, { user: r.user }),
  }
}

/** A new block's name: `blockName` with the dataset and a fresh uuid. */
export function blockName(template: string, dataset: string, user: string, uuid: string): string {
  return fillTemplate(template, { dataset, uuid, user })
}

export type CloseReason = 'full' | 'complete' | 'timeout'

/** What the publisher knows of an open block when it decides whether to close it. */
export interface OpenBlockView {
  files: number
  /** when its first file joined */
  openedAt: number
  /** publishable files of the same user and dataset (any task) not yet DONE or not yet in a block */
  waiting: number
}

/** Whether an open block is closed now, and why: full, nothing more on its way, or open for too long. */
export function closeReason(
  b: OpenBlockView,
  opts: { maxFilesPerBlock: number; blockCloseAfter: number },
  now: number,
): CloseReason | null {
  if (b.files >= opts.maxFilesPerBlock) return 'full'
  if (b.waiting === 0) return 'complete'
  if (now - b.openedAt >= opts.blockCloseAfter) return 'timeout'
  return null
}

/** How a close reason reads in history rows and `aso explain`. */
export function describeClose(reason: CloseReason, maxFiles: number): string {
  switch (reason) {
    case 'full':
      return `full (${maxFiles} files)`
    case 'complete':
      return 'no more files of its dataset on their way'
    case 'timeout':
      return 'open for longer than catalog.blockCloseAfter'
  }
}
