/**
 * `aso explain`'s publication section: why a file is not yet in the catalog, or where it is. The block's facts
 * (its state, what it waits for, its failed attempts) come from the store's blockView.
 */
import type { AsoConfig } from '../config/schema.js'
import { formatDuration } from '../domain/duration.js'
import { isPublishable } from '../domain/publication.js'
import type { PublicationState, TransferRecord } from '../domain/transfer.js'
import type { BlockView } from '../store/ops/publication-reads.js'
import type { Store } from '../store/store.js'

export interface PublicationExplanation {
  state: PublicationState
  /** one sentence, starting with the state: why the file is (not yet) published, and what happens next */
  why: string
  block: string | null
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** "37 more files of task T" or "37 more files of tasks T1 (30), T2 (7)". */
function waitingText(waiting: BlockView['waitingByTask']): string {
  const n = waiting.reduce((a, w) => a + w.n, 0)
  const files = `${n} more file${n === 1 ? '' : 's'}`
  if (waiting.length === 1) return `${files} of task ${waiting[0]!.task}`
  const shown = waiting.slice(0, 3).map((w) => `${w.task} (${w.n})`)
  return `${files} of tasks ${shown.join(', ')}${waiting.length > 3 ? ', …' : ''}`
}

function openBlockWhy(b: BlockView, config: AsoConfig, now: number): string {
  const cat = config.catalog
  const owner = `${b.user}'s ${b.dataset}`
  const closesAt = cat ? b.openedAt + cat.blockCloseAfter : null
  const until =
    closesAt === null
      ? ''
      : closesAt <= now
        ? ', or until now (catalog.blockCloseAfter): the publisher closes it at its next run'
        : `, or until ${iso(closesAt)} (catalog.blockCloseAfter, in ${formatDuration(closesAt - now)})`
  const room = cat ? ` of ${cat.maxFilesPerBlock}` : ''
  if (b.waitingByTask.length === 0) {
    return `block ${b.name} (${b.files}${room} files, ${owner}) is complete: nothing more of its dataset is on its way, the publisher closes it at its next run`
  }
  return `block ${b.name} (${b.files}${room} files) waits for ${waitingText(b.waitingByTask)} (${owner})${until}`
}

function publishingWhy(b: BlockView, config: AsoConfig, now: number): string {
  const where = `being registered in ${config.catalog?.type === 'rucio' ? 'Rucio' : 'the catalog'}`
  if (b.attempts === 0)
    return `block ${b.name} (${b.files} files, closed: ${b.closeReason ?? 'closed'}) is ${where}`
  const max = config.catalog ? ` of ${config.catalog.maxAttempts}` : ''
  const next =
    b.nextAttemptAt === null
      ? ''
      : b.nextAttemptAt <= now
        ? '; next try now'
        : `; next try at ${iso(b.nextAttemptAt)} (in ${formatDuration(b.nextAttemptAt - now)})`
  return `block ${b.name} is ${where} (attempt ${b.attempts}${max} failed (${b.failureClass ?? 'catalog-transient'}): ${b.failureReason ?? 'no reason recorded'}${next})`
}

/** Why the file is where it is in publication; null when the request did not ask for publication. */
export async function explainPublication(
  store: Store,
  config: AsoConfig,
  r: TransferRecord,
  now: number,
): Promise<PublicationExplanation | null> {
  if (!isPublishable(r)) return null
  const state = r.publicationState
  const block = r.blockName
  const view = block ? await store.blockView(block) : null
  const say = (why: string): PublicationExplanation => ({ state, why: `${state}: ${why}`, block })
  switch (state) {
    case 'NOT_REQUIRED':
      return say(
        r.state === 'FAILED' || r.state === 'KILLED'
          ? `the transfer ended ${r.state}; publication resumes if it is retried (aso retry ${r.id})`
          : 'nothing to publish for this file',
      )
    case 'PENDING':
      if (r.state !== 'DONE') return say(`published once the transfer is DONE (it is ${r.state} now)`)
      if (!config.catalog) {
        return say(
          'this ASO has no catalog configured (no catalog: section in aso.yaml): the file is published once one is',
        )
      }
      if (!view) return say(`DONE; the publisher puts it in a block of ${r.dataset} at its next run`)
      return say(openBlockWhy(view, config, now))
    case 'PUBLISHING':
      if (!view) return say(`in block ${block}, which is being registered in the catalog`)
      return say(publishingWhy(view, config, now))
    case 'PUBLISHED': {
      const at = view?.publishedAt ?? r.updatedAt
      const where = view ? ` (scope ${view.scope}, RSE ${view.rse})` : ''
      return say(`in block ${block} at ${iso(at)}${where}`)
    }
    case 'FAILED': {
      const cls = r.publicationClass ?? view?.failureClass ?? 'catalog-permanent'
      const reason = r.publicationReason ?? view?.failureReason ?? 'no reason recorded'
      const tries =
        view && view.state === 'FAILED' && view.attempts > 1 ? ` after ${view.attempts} attempts` : ''
      const next = cls === 'catalog-transient' ? 'to try again:' : 'after fixing,'
      // `say` puts the state first; the class belongs right after it
      return {
        state,
        why: `FAILED (${cls})${tries}: ${reason}; ${next} \`aso publish --retry ${r.id}\``,
        block,
      }
    }
  }
}
