import type { AsoConfig } from '../config/schema.js'
import { formatDuration } from '../domain/duration.js'
import { type FailureClass, hintFor } from '../domain/failures.js'
import { IN_FLIGHT_STATES, isTerminal } from '../domain/states.js'
import type { TransferRecord } from '../domain/transfer.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { Hold } from '../store/ops/holds.js'
import type { HistoryEvent } from '../store/ops/transfer-reads.js'
import type { Store } from '../store/store.js'
import { noAgentNote } from './explain-agents.js'
import { explainPublication, type PublicationExplanation } from './explain-publication.js'
import { adaptiveView, describeAdaptive, effectiveLink } from './link-limits.js'

export interface Explanation {
  record: TransferRecord
  timeline: HistoryEvent[]
  /** one sentence: why the file is where it is, and what happens next */
  why: string
  hint: string | null
  /** why the file is (not yet) in the catalog; null when its request did not ask for publication */
  publication: PublicationExplanation | null
  /** the hold that keeps a waiting file back (quota: its reason has the admission's numbers); null: none */
  hold: Hold | null
}

function iso(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The record, its timeline, and why it is where it is (what `aso explain` and the API's GET show). */
export async function explainTransfer(
  store: Store,
  sites: SiteCatalog,
  config: AsoConfig,
  record: TransferRecord,
  now = Date.now(),
): Promise<Explanation> {
  const timeline = await store.history(record.id)
  const link = `${record.source}->${record.destination}`
  const hint = record.failureClass ? hintFor(record.failureClass as FailureClass) : null
  const noAgent = isTerminal(record.state) ? null : await noAgentNote(store, config, now)
  let why: string
  let hold: Hold | null = null
  switch (record.state) {
    case 'NEW': {
      const holds = (await store.activeHolds(now)).filter(
        (h) => h.user === record.user && (h.site === '*' || h.site === record.destination),
      )
      hold = holds[0] ?? null
      const settings = await store.linkSettings()
      const cfg = effectiveLink(sites, settings, record.source, record.destination)
      // an adaptive link says who set its limit and why it last moved
      const adaptive = describeAdaptive(
        adaptiveView(sites, settings, await store.linkDecisions(link, 1), record.source, record.destination),
      )
      const limitNote = adaptive ? ` (${adaptive})` : ''
      const inFlight = (await store.counts({ user: undefined }))
        .filter((c) => c.source === record.source && c.destination === record.destination)
        .filter((c) => IN_FLIGHT_STATES.includes(c.state))
        .reduce((n, c) => n + c.n, 0)
      const ahead = await store.queuePosition(record)
      const aheadText = `${ahead} file${ahead === 1 ? '' : 's'} of ${record.user}'s ahead of it`
      if (holds.length) {
        const h = holds[0]!
        why = `held (${h.class}): ${h.reason}; nothing of ${record.user} to ${h.site === '*' ? 'any site' : h.site} is submitted until ${iso(h.until)} or the hold is lifted`
      } else if (record.holdReason) {
        why = `waiting after a hold (${record.holdReason}); the hold has expired, the submitter tries again; ${aheadText}`
      } else if (cfg.paused) {
        why = `waiting: link ${link} is paused by an operator; ${aheadText}`
      } else if (inFlight >= cfg.maxActive) {
        why = `waiting: link ${link} at its limit ${inFlight}/${cfg.maxActive}${limitNote}, ${aheadText}`
      } else {
        const next = noAgent ?? `the submitter takes it within ${formatDuration(config.agent.submitInterval)}`
        why = `queued: link ${link} has room (${inFlight}/${cfg.maxActive}${limitNote}); ${next}; ${aheadText}`
      }
      if (record.attempt > 1) why += ` (attempt ${record.attempt} of ${record.maxAttempts})`
      break
    }
    case 'SUBMITTING':
      why = `being handed to the ${record.engine} engine as job ${record.engineJobId} (attempt ${record.attempt} of ${record.maxAttempts})`
      break
    case 'SUBMITTED':
      why = `in ${record.engine} job ${record.engineJobId} since ${iso(record.submittedAt ?? record.updatedAt)} (${formatDuration(now - (record.submittedAt ?? record.updatedAt))}), attempt ${record.attempt} of ${record.maxAttempts}`
      break
    case 'RETRY': {
      const at = record.nextAttemptAt ?? now
      why = `attempt ${record.attempt} of ${record.maxAttempts} failed (${record.failureClass}: ${record.failureReason}); attempt ${record.attempt + 1} starts ${at <= now ? 'now' : `in ${formatDuration(at - now)} (${iso(at)})`}`
      break
    }
    case 'KILLING':
      why = record.supersedePending
        ? `a newer job retry (${record.jobRetry}) replaces this file: waiting for ${record.engine} to stop job ${record.engineJobId}`
        : `kill requested: waiting for the ${record.engine} engine to confirm the cancel of job ${record.engineJobId}`
      break
    case 'DONE':
      why = `done at ${iso(record.finishedAt ?? record.updatedAt)}: at ${record.destination}, size and adler32 verified${record.method ? ` (${record.method})` : ''}; temporary source clean-up: ${record.sourceCleanup.toLowerCase()}`
      break
    case 'FAILED':
      why = `failed (${record.failureClass}) after ${record.attempt} attempt${record.attempt === 1 ? '' : 's'}: ${record.failureReason}`
      break
    case 'KILLED':
      why = `killed at ${iso(record.finishedAt ?? record.updatedAt)}: ${record.failureReason ?? 'by request'}`
      break
  }
  if (noAgent && !why.includes(noAgent)) why += `; ${noAgent}`
  const publication = await explainPublication(store, config, record, now)
  return { record, timeline, why, hint, publication, hold }
}
