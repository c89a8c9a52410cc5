/** What the publisher, status and explain read of publication: ready files, open and due blocks, counts. */
import { type BlockState, PUBLICATION_STATES } from '../../domain/publication.js'
import type { PublicationState } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import type { Trx } from '../dialect.js'

/** A DONE file waiting for a block. */
export interface ReadyFile {
  id: string
  user: string
  dataset: string
  destination: string
  destinationLfn: string
}

/** An open block, with what decides its closing. */
export interface OpenBlock {
  name: string
  user: string
  dataset: string
  destination: string
  openedAt: number
  files: number
  /** publishable files of the same user and dataset, any task, not yet DONE or not yet in a block */
  waiting: number
}

/** A block due for a catalog call, with its files. */
export interface DueBlock {
  name: string
  user: string
  dataset: string
  destination: string
  scope: string
  rse: string
  ruleAccount: string
  /** failed catalog calls so far */
  attempts: number
  files: { id: string; lfn: string; size: number; adler32: string }[]
}

/** A block as explain shows it. */
export interface BlockView {
  name: string
  state: BlockState
  user: string
  dataset: string
  destination: string
  scope: string
  rse: string
  openedAt: number
  closeReason: string | null
  attempts: number
  nextAttemptAt: number | null
  failureClass: string | null
  failureReason: string | null
  publishedAt: number | null
  files: number
  /** for an open block: the files it waits for, per task */
  waitingByTask: { task: string; n: number }[]
}

export type PublicationCounts = Record<PublicationState, number>

/** DONE files that asked for publication and are in no block yet, oldest first. */
export async function readyForBlocks(trx: Trx, limit: number): Promise<ReadyFile[]> {
  const rows = await trx
    .selectFrom('transfers')
    .select(['id', 'user', 'dataset', 'destination', 'destination_lfn'])
    .where('publication_state', '=', 'PENDING')
    .where('state', '=', 'DONE')
    .where('block_name', 'is', null)
    .orderBy('seq')
    .limit(limit)
    .execute()
  return rows
    .filter((r) => r.dataset !== null)
    .map((r) => ({
      id: r.id,
      user: r.user,
      dataset: r.dataset!,
      destination: r.destination,
      destinationLfn: r.destination_lfn,
    }))
}

function waitingQuery(trx: Trx, user: string, dataset: string) {
  return trx
    .selectFrom('transfers')
    .where('user', '=', user)
    .where('dataset', '=', dataset)
    .where('publication_state', '=', 'PENDING')
    .where('block_name', 'is', null)
}

export async function openBlocks(trx: Trx): Promise<OpenBlock[]> {
  const blocks = await trx
    .selectFrom('publication_blocks')
    .select(['name', 'user', 'dataset', 'destination', 'opened_at'])
    .where('state', '=', 'OPEN')
    .orderBy('opened_at')
    .execute()
  const out: OpenBlock[] = []
  for (const b of blocks) {
    const files = await trx
      .selectFrom('transfers')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('block_name', '=', b.name)
      .executeTakeFirstOrThrow()
    const waiting = await waitingQuery(trx, b.user, b.dataset)
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow()
    out.push({
      name: b.name,
      user: b.user,
      dataset: b.dataset,
      destination: b.destination,
      openedAt: Number(b.opened_at),
      files: Number(files.n),
      waiting: Number(waiting.n),
    })
  }
  return out
}

/** Blocks in PUBLISHING whose (next) catalog call is due, with their files. */
export async function duePublications(trx: Trx, now: number, limit: number): Promise<DueBlock[]> {
  const blocks = await trx
    .selectFrom('publication_blocks')
    .selectAll()
    .where('state', '=', 'PUBLISHING')
    .where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at')
    .limit(limit)
    .execute()
  const out: DueBlock[] = []
  for (const b of blocks) {
    const files = await trx
      .selectFrom('transfers')
      .select(['id', 'destination_lfn', 'size', 'adler32'])
      .where('block_name', '=', b.name)
      .where('publication_state', '=', 'PUBLISHING')
      .orderBy('seq')
      .execute()
    out.push({
      name: b.name,
      user: b.user,
      dataset: b.dataset,
      destination: b.destination,
      scope: b.scope,
      rse: b.rse,
      ruleAccount: b.rule_account,
      attempts: Number(b.attempts),
      files: files.map((f) => ({
        id: f.id,
        lfn: f.destination_lfn,
        size: Number(f.size),
        adler32: f.adler32,
      })),
    })
  }
  return out
}

/** Files per publication state, of one user and/or task (NOT_REQUIRED counted too, from the whole scope). */
export async function publicationCounts(
  trx: Trx,
  filter: { user?: string; task?: string },
): Promise<PublicationCounts> {
  let q = trx
    .selectFrom('transfers')
    .select(['publication_state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('publication_state', '<>', 'NOT_REQUIRED')
    .groupBy('publication_state')
  if (filter.user !== undefined) q = q.where('user', '=', filter.user)
  if (filter.task !== undefined) q = q.where('task', '=', filter.task)
  const counts = Object.fromEntries(PUBLICATION_STATES.map((s) => [s, 0])) as PublicationCounts
  for (const r of await q.execute()) counts[r.publication_state as PublicationState] = Number(r.n)
  return counts
}

export async function blockView(trx: Trx, name: string): Promise<BlockView | null> {
  const b = await trx.selectFrom('publication_blocks').selectAll().where('name', '=', name).executeTakeFirst()
  if (!b) return null
  const files = await trx
    .selectFrom('transfers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('block_name', '=', name)
    .executeTakeFirstOrThrow()
  const waitingByTask =
    b.state === 'OPEN'
      ? await waitingQuery(trx, b.user, b.dataset)
          .select(['task', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy('task')
          .orderBy('task')
          .execute()
      : []
  return {
    name: b.name,
    state: b.state as BlockState,
    user: b.user,
    dataset: b.dataset,
    destination: b.destination,
    scope: b.scope,
    rse: b.rse,
    openedAt: Number(b.opened_at),
    closeReason: b.close_reason,
    attempts: Number(b.attempts),
    nextAttemptAt: b.next_attempt_at === null ? null : Number(b.next_attempt_at),
    failureClass: b.failure_class,
    failureReason: b.failure_reason,
    publishedAt: b.published_at === null ? null : Number(b.published_at),
    files: Number(files.n),
    waitingByTask: waitingByTask.map((w) => ({ task: w.task, n: Number(w.n) })),
  }
}

/** The store's door for reading publication. */
export interface PublicationReads {
  readyForBlocks(limit: number): Promise<ReadyFile[]>
  openBlocks(): Promise<OpenBlock[]>
  duePublications(now: number, limit: number): Promise<DueBlock[]>
  publicationCounts(filter: { user?: string; task?: string }): Promise<PublicationCounts>
  blockView(name: string): Promise<BlockView | null>
}

export function publicationReads(s: StoreContext): PublicationReads {
  return {
    readyForBlocks: (limit) => s.tx((trx) => readyForBlocks(trx, limit)),
    openBlocks: () => s.tx((trx) => openBlocks(trx)),
    duePublications: (now, limit) => s.tx((trx) => duePublications(trx, now, limit)),
    publicationCounts: (filter) => s.tx((trx) => publicationCounts(trx, filter)),
    blockView: (name) => s.tx((trx) => blockView(trx, name)),
  }
}
