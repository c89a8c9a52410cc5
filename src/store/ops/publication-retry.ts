/**
 * `aso publish --retry`: FAILED publications get a new round. A block that failed as a whole (the catalog
 * refused the call) is published again with all its failed files, its attempts reset; a file the catalog
 * refused on its own (its block is published and closed) goes back to PENDING and joins a new block.
 */
import type { StoreContext } from '../context.js'
import { chunk, type Trx } from '../dialect.js'
import { type ChangedRow, insertHistory, RETURNED_COLUMNS } from '../transition.js'
import type { Selector } from './kill-retry.js'

export interface PublicationRetryResult {
  /** files that go back to PUBLISHING with their block */
  republished: number
  /** files that go back to PENDING, for a new block */
  requeued: number
  /** blocks published again */
  blocks: number
  /** files the selector named whose publication has not FAILED (nothing to retry) */
  notFailed: number
}

export async function retryPublications(
  trx: Trx,
  sel: Selector,
  now: number,
  actor: string,
): Promise<PublicationRetryResult> {
  if (!sel.ids && !sel.task) throw new Error('a selector needs ids or a task')
  let q = trx
    .selectFrom('transfers')
    .leftJoin('publication_blocks as b', 'b.name', 'transfers.block_name')
    .select(['transfers.id', 'transfers.publication_state', 'transfers.block_name', 'b.state as block_state'])
    .where('transfers.publish', '=', 1)
  if (sel.ids) q = q.where('transfers.id', 'in', sel.ids.length ? [...sel.ids] : [''])
  if (sel.task) q = q.where('transfers.task', '=', sel.task)
  if (sel.user) q = q.where('transfers.user', '=', sel.user)
  const rows = await q.execute()
  const failed = rows.filter((r) => r.publication_state === 'FAILED')
  const blocks = [...new Set(failed.filter((r) => r.block_state === 'FAILED').map((r) => r.block_name!))]
  const alone = failed.filter((r) => r.block_state !== 'FAILED').map((r) => r.id)
  const reason = `publication retry asked by ${actor}`
  const changed: { rows: ChangedRow[]; to: string }[] = []

  let republished = 0
  for (const block of blocks) {
    await trx
      .updateTable('publication_blocks')
      .set({ state: 'PUBLISHING', attempts: 0, next_attempt_at: now, updated_at: now })
      .where('name', '=', block)
      .where('state', '=', 'FAILED')
      .execute()
    // the whole block: its members are fixed once it closed
    const rows = (await trx
      .updateTable('transfers')
      .set({
        publication_state: 'PUBLISHING',
        publication_class: null,
        publication_reason: null,
        updated_at: now,
      })
      .where('block_name', '=', block)
      .where('publication_state', '=', 'FAILED')
      .returning(RETURNED_COLUMNS)
      .execute()) as ChangedRow[]
    republished += rows.length
    changed.push({ rows, to: `publication: ${reason}; block ${block} is published again` })
  }
  let requeued = 0
  for (const ids of chunk(alone, 500)) {
    const rows = (await trx
      .updateTable('transfers')
      .set({
        publication_state: 'PENDING',
        publication_class: null,
        publication_reason: null,
        block_name: null,
        updated_at: now,
      })
      .where('id', 'in', ids)
      .where('publication_state', '=', 'FAILED')
      .returning(RETURNED_COLUMNS)
      .execute()) as ChangedRow[]
    requeued += rows.length
    changed.push({ rows, to: `publication: ${reason}; the file joins a new block` })
  }
  for (const c of changed) {
    await insertHistory(
      trx,
      c.rows.map((transfer) => ({ transfer, from: 'DONE', to: 'DONE', reason: c.to })),
      actor,
      now,
    )
  }
  return { republished, requeued, blocks: blocks.length, notFailed: rows.length - failed.length }
}

/** The store's door for publication retries (authorised like transfer retries). */
export interface PublicationRetryOps {
  retryPublications(sel: Selector, now: number, actor: string): Promise<PublicationRetryResult>
}

export function publicationRetryOps(s: StoreContext): PublicationRetryOps {
  return {
    retryPublications: (sel, now, actor) => s.tx((trx) => retryPublications(trx, sel, now, actor)),
  }
}
