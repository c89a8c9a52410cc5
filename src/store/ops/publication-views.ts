/**
 * What people read of publication beside a file's own record: the Problems page (files whose publication
 * FAILED, blocks the catalog keeps refusing) and the metrics (blocks per state). Bounded index reads only.
 */
import { BLOCK_STATES, type BlockState } from '../../domain/publication.js'
import type { StoreContext } from '../context.js'
import type { Db } from '../dialect.js'

/** A file whose publication FAILED: it waits for `aso publish --retry`. */
export interface FailedPublication {
  id: string
  user: string
  task: string
  dataset: string | null
  blockName: string | null
  failureClass: string | null
  failureReason: string | null
  updatedAt: number
}

/** A block the catalog refused: FAILED, or still PUBLISHING after failed attempts (catalog-transient). */
export interface TroubledBlock {
  name: string
  user: string
  dataset: string
  state: BlockState
  files: number
  attempts: number
  nextAttemptAt: number | null
  failureClass: string | null
  failureReason: string | null
}

export interface PublicationProblems {
  failed: FailedPublication[]
  blocks: TroubledBlock[]
}

export async function publicationProblems(
  db: Db,
  filter: { user?: string },
  limit: number,
): Promise<PublicationProblems> {
  let files = db
    .selectFrom('transfers')
    .select([
      'id',
      'user',
      'task',
      'dataset',
      'block_name',
      'publication_class',
      'publication_reason',
      'updated_at',
    ])
    .where('publication_state', '=', 'FAILED')
  if (filter.user !== undefined) files = files.where('user', '=', filter.user)
  let blocks = db
    .selectFrom('publication_blocks as b')
    .select((eb) => [
      'b.name',
      'b.user',
      'b.dataset',
      'b.state',
      'b.attempts',
      'b.next_attempt_at',
      'b.failure_class',
      'b.failure_reason',
      eb
        .selectFrom('transfers')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('transfers.block_name', '=', 'b.name')
        .as('files'),
    ])
    .where((eb) =>
      eb.or([
        eb('b.state', '=', 'FAILED'),
        eb.and([eb('b.state', '=', 'PUBLISHING'), eb('b.attempts', '>', 0)]),
      ]),
    )
  if (filter.user !== undefined) blocks = blocks.where('b.user', '=', filter.user)
  const [f, b] = await Promise.all([
    files.orderBy('updated_at', 'desc').limit(limit).execute(),
    blocks.orderBy('b.updated_at', 'desc').limit(limit).execute(),
  ])
  return {
    failed: f.map((r) => ({
      id: r.id,
      user: r.user,
      task: r.task,
      dataset: r.dataset,
      blockName: r.block_name,
      failureClass: r.publication_class,
      failureReason: r.publication_reason,
      updatedAt: Number(r.updated_at),
    })),
    blocks: b.map((r) => ({
      name: r.name,
      user: r.user,
      dataset: r.dataset,
      state: r.state as BlockState,
      files: Number(r.files ?? 0),
      attempts: Number(r.attempts),
      nextAttemptAt: r.next_attempt_at === null ? null : Number(r.next_attempt_at),
      failureClass: r.failure_class,
      failureReason: r.failure_reason,
    })),
  }
}

/** Blocks per state, every state present (0 when none): the metrics' gauge. */
export async function blockCounts(db: Db): Promise<Record<BlockState, number>> {
  const rows = await db
    .selectFrom('publication_blocks')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute()
  const out = Object.fromEntries(BLOCK_STATES.map((s) => [s, 0])) as Record<BlockState, number>
  for (const r of rows) out[r.state as BlockState] = Number(r.n)
  return out
}

/** The store's door for the views of publication. */
export interface PublicationViews {
  publicationProblems(filter: { user?: string }, limit: number): Promise<PublicationProblems>
  blockCounts(): Promise<Record<BlockState, number>>
}

export function publicationViews(s: StoreContext): PublicationViews {
  return {
    publicationProblems: (filter, limit) => publicationProblems(s.db, filter, limit),
    blockCounts: () => blockCounts(s.db),
  }
}
