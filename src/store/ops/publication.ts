/**
 * The publisher's writes (domain/publication.ts): DONE files join open blocks, a closed block's files move to
 * PUBLISHING before the catalog is called (mark before call), and what the catalog answered is recorded. Each
 * change is guarded by the publication state it expects, with a history row per file.
 */
import type { CloseReason, PublicationFailureClass } from '../../domain/publication.js'
import type { StoreContext } from '../context.js'
import { chunk, type DialectOps, type Trx } from '../dialect.js'
import { type ChangedRow, insertHistory, RETURNED_COLUMNS, type TransferUpdate } from '../transition.js'
import { enqueueTerminalNotifications } from './webhook-outbox.js'

/** Where files of one (user, dataset, destination) go in the catalog: the key of their open block. */
export interface BlockKey {
  user: string
  dataset: string
  destination: string
  scope: string
  rse: string
  ruleAccount: string
}

/** Files that may join a block of `key`; `newNames` name the blocks opened when no open block has room. */
export interface BlockFill {
  key: BlockKey
  ids: readonly string[]
  newNames: readonly string[]
}

/** A catalog failure the publisher decided about: `retryAt` null ends the block FAILED. */
export interface PublishFailure {
  failureClass: PublicationFailureClass
  reason: string
  retryAt: number | null
}

/** What the catalog did with a block: files published, files refused one by one. */
export interface PublishResult {
  published: readonly string[]
  rejected: readonly { id: string; reason: string }[]
  ruleId: string | null
}

/** Sets the publication columns of the block's files in `from`, with one history row each. */
async function movePublication(
  trx: Trx,
  where: { block: string; from: string; ids?: readonly string[] },
  set: TransferUpdate,
  reason: (row: ChangedRow) => string,
  now: number,
  actor: string,
): Promise<ChangedRow[]> {
  const ended = set.publication_state === 'PUBLISHED' || set.publication_state === 'FAILED'
  const parts = where.ids ? chunk(where.ids, 500) : [undefined]
  const changed: ChangedRow[] = []
  for (const ids of parts) {
    let q = trx
      .updateTable('transfers')
      .set({ ...set, updated_at: now })
      .where('block_name', '=', where.block)
      .where('publication_state', '=', where.from)
      .where('state', '=', 'DONE')
    if (ids) q = q.where('id', 'in', ids)
    changed.push(...((await q.returning(RETURNED_COLUMNS).execute()) as ChangedRow[]))
  }
  await insertHistory(
    trx,
    changed.map((transfer) => ({ transfer, from: 'DONE', to: 'DONE', reason: reason(transfer) })),
    actor,
    now,
  )
  // a file whose publication ended notifies its callback, like the end of its transfer
  if (ended)
    await enqueueTerminalNotifications(
      trx,
      changed.map((c) => c.id),
      now,
      'publication.terminal',
    )
  return changed
}

/**
 * Puts ready files into blocks: the open block of their key while it has room (counted here, under the key's
 * lock, so no block grows past `maxFiles`), then new blocks. Only files still DONE, PENDING and in no block join.
 */
export async function fillBlocks(
  trx: Trx,
  dialect: DialectOps,
  fills: readonly BlockFill[],
  opts: { maxFiles: number; now: number; actor: string },
): Promise<{ block: string; ids: string[] }[]> {
  const joined: { block: string; ids: string[] }[] = []
  for (const { key, ids, newNames } of fills) {
    await dialect.lockKey(trx, `publication:${key.user}\0${key.dataset}\0${key.destination}\0${key.scope}`)
    const open = await trx
      .selectFrom('publication_blocks')
      .select('name')
      .where('user', '=', key.user)
      .where('dataset', '=', key.dataset)
      .where('destination', '=', key.destination)
      .where('scope', '=', key.scope)
      .where('state', '=', 'OPEN')
      .orderBy('opened_at')
      .executeTakeFirst()
    const targets: { name: string; room: number; fresh: boolean }[] = []
    if (open)
      targets.push({ name: open.name, room: opts.maxFiles - (await members(trx, open.name)), fresh: false })
    for (const name of newNames) targets.push({ name, room: opts.maxFiles, fresh: true })
    let rest = [...ids]
    for (const t of targets) {
      if (rest.length === 0) break
      if (t.room <= 0) continue
      const batch = rest.slice(0, t.room)
      rest = rest.slice(t.room)
      if (t.fresh) {
        await trx
          .insertInto('publication_blocks')
          .values({
            name: t.name,
            user: key.user,
            dataset: key.dataset,
            destination: key.destination,
            scope: key.scope,
            rse: key.rse,
            rule_account: key.ruleAccount,
            state: 'OPEN',
            opened_at: opts.now,
            attempts: 0,
            updated_at: opts.now,
          })
          .execute()
      }
      const changed = await joinBlock(trx, t.name, batch, opts.now, opts.actor)
      if (changed.length === 0 && t.fresh) {
        // every file moved on meanwhile (a supersede): no empty block is left behind
        await trx.deleteFrom('publication_blocks').where('name', '=', t.name).execute()
        continue
      }
      joined.push({ block: t.name, ids: changed.map((c) => c.id) })
    }
  }
  return joined
}

async function members(trx: Trx, block: string): Promise<number> {
  const r = await trx
    .selectFrom('transfers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('block_name', '=', block)
    .executeTakeFirstOrThrow()
  return Number(r.n)
}

async function joinBlock(trx: Trx, block: string, ids: readonly string[], now: number, actor: string) {
  const changed: ChangedRow[] = []
  for (const part of chunk(ids, 500)) {
    const rows = await trx
      .updateTable('transfers')
      .set({ block_name: block, updated_at: now })
      .where('id', 'in', part)
      .where('state', '=', 'DONE')
      .where('publication_state', '=', 'PENDING')
      .where('block_name', 'is', null)
      .returning(RETURNED_COLUMNS)
      .execute()
    changed.push(...(rows as ChangedRow[]))
  }
  await insertHistory(
    trx,
    changed.map((transfer) => ({
      transfer,
      from: 'DONE',
      to: 'DONE',
      reason: `publication: joined block ${block}`,
    })),
    actor,
    now,
  )
  return changed
}

/**
 * Closes an open block: it and its files move to PUBLISHING, committed before the catalog is called, so that
 * a crash during the call leaves a block whose members are known and whose publication simply runs again.
 */
export async function startPublishing(
  trx: Trx,
  block: string,
  close: { reason: CloseReason; description: string },
  now: number,
  actor: string,
): Promise<number> {
  const updated = await trx
    .updateTable('publication_blocks')
    .set({ state: 'PUBLISHING', close_reason: close.reason, next_attempt_at: now, updated_at: now })
    .where('name', '=', block)
    .where('state', '=', 'OPEN')
    .executeTakeFirst()
  if (Number(updated.numUpdatedRows) === 0) return 0
  const changed = await movePublication(
    trx,
    { block, from: 'PENDING' },
    { publication_state: 'PUBLISHING' },
    () => `publication: block ${block} closed (${close.description}); registering it in the catalog`,
    now,
    actor,
  )
  return changed.length
}

/** The catalog published the block: PUBLISHED, except files it refused one by one (FAILED, catalog-permanent). */
export async function recordPublished(
  trx: Trx,
  block: string,
  result: PublishResult,
  now: number,
  actor: string,
): Promise<void> {
  const updated = await trx
    .updateTable('publication_blocks')
    .set({
      state: 'PUBLISHED',
      rule_id: result.ruleId,
      published_at: now,
      next_attempt_at: null,
      failure_class: null,
      failure_reason: null,
      updated_at: now,
    })
    .where('name', '=', block)
    .where('state', '=', 'PUBLISHING')
    .executeTakeFirst()
  if (Number(updated.numUpdatedRows) === 0) return
  await movePublication(
    trx,
    { block, from: 'PUBLISHING', ids: result.published },
    { publication_state: 'PUBLISHED', publication_class: null, publication_reason: null },
    () => `publication: published in block ${block}`,
    now,
    actor,
  )
  for (const r of result.rejected) {
    await movePublication(
      trx,
      { block, from: 'PUBLISHING', ids: [r.id] },
      { publication_state: 'FAILED', publication_class: 'catalog-permanent', publication_reason: r.reason },
      () => `publication failed (catalog-permanent): ${r.reason}`,
      now,
      actor,
    )
  }
  // a member the catalog reported neither way is not taken for published
  const unreported = 'the catalog reported nothing for this file; aso publish --retry tries it in a new block'
  await movePublication(
    trx,
    { block, from: 'PUBLISHING' },
    { publication_state: 'FAILED', publication_class: 'catalog-permanent', publication_reason: unreported },
    () => `publication failed (catalog-permanent): ${unreported}`,
    now,
    actor,
  )
}

/** A failed catalog call: counted, then tried again at `retryAt` or, without one, the block ends FAILED. */
export async function recordPublishFailure(
  trx: Trx,
  block: string,
  failure: PublishFailure,
  now: number,
  actor: string,
): Promise<void> {
  const updated = await trx
    .updateTable('publication_blocks')
    .set((eb) => ({
      state: failure.retryAt === null ? 'FAILED' : 'PUBLISHING',
      attempts: eb('attempts', '+', 1),
      next_attempt_at: failure.retryAt,
      failure_class: failure.failureClass,
      failure_reason: failure.reason,
      updated_at: now,
    }))
    .where('name', '=', block)
    .where('state', '=', 'PUBLISHING')
    .executeTakeFirst()
  if (Number(updated.numUpdatedRows) === 0) return
  const retryAt = failure.retryAt
  await movePublication(
    trx,
    { block, from: 'PUBLISHING' },
    {
      ...(retryAt === null ? { publication_state: 'FAILED' } : {}),
      publication_class: failure.failureClass,
      publication_reason: failure.reason,
    },
    () =>
      retryAt === null
        ? `publication failed (${failure.failureClass}): ${failure.reason}`
        : `publication of block ${block} deferred (${failure.failureClass}): ${failure.reason}; next try at ${new Date(retryAt).toISOString()}`,
    now,
    actor,
  )
}

/** The store's door for the publisher's writes. */
export interface PublicationOps {
  fillBlocks(
    fills: readonly BlockFill[],
    opts: { maxFiles: number; now: number; actor: string },
  ): Promise<{ block: string; ids: string[] }[]>
  startPublishing(
    block: string,
    close: { reason: CloseReason; description: string },
    now: number,
    actor: string,
  ): Promise<number>
  recordPublished(block: string, result: PublishResult, now: number, actor: string): Promise<void>
  recordPublishFailure(block: string, failure: PublishFailure, now: number, actor: string): Promise<void>
}

export function publicationOps(s: StoreContext): PublicationOps {
  return {
    fillBlocks: (fills, opts) => s.tx((trx) => fillBlocks(trx, s.dialect, fills, opts)),
    startPublishing: (block, close, now, actor) =>
      s.tx((trx) => startPublishing(trx, block, close, now, actor)),
    recordPublished: (block, result, now, actor) =>
      s.tx((trx) => recordPublished(trx, block, result, now, actor)),
    recordPublishFailure: (block, failure, now, actor) =>
      s.tx((trx) => recordPublishFailure(trx, block, failure, now, actor)),
  }
}
