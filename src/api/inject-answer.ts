/**
 * The answer to an inject stays under `api.limits.answerBytes`: items are answered in full while there is
 * room; past it a rejected item keeps its id and status (a client still matches results to requests by
 * position), and the answer's `error` says that details were left out and how to see them.
 */
import type { InjectItemResult } from './inject-batch.js'

/** Room kept for the answer's envelope and its note. */
const ENVELOPE_BYTES = 1024
/** The size of `{"id":"<32 hex>","status":"superseded"},`: the most an item takes once its details are cut. */
const BARE_ITEM_BYTES = 64

export interface InjectAnswer {
  results: InjectItemResult[]
  /** set when details of rejected items were left out */
  cutNote?: string
}

/** Fits `results` into `maxBytes` of JSON. */
export function fitInjectAnswer(results: InjectItemResult[], maxBytes: number): InjectAnswer {
  // what the items not yet answered need at the least, so that every item still gets its place
  let reserved = results.length * BARE_ITEM_BYTES
  let used = ENVELOPE_BYTES
  let cutFrom: number | null = null
  const fitted = results.map((r, i) => {
    reserved -= BARE_ITEM_BYTES
    if (cutFrom === null || r.status !== 'rejected') {
      const size = Buffer.byteLength(JSON.stringify(r)) + 1
      if (cutFrom === null && used + size + reserved <= maxBytes) {
        used += size
        return r
      }
      if (r.status !== 'rejected') {
        used += size
        return r
      }
      cutFrom = i
    }
    used += BARE_ITEM_BYTES
    return { id: r.id, status: r.status }
  })
  if (cutFrom === null) return { results: fitted }
  return {
    results: fitted,
    cutNote: `the answer would pass ${Math.round(maxBytes / 1024)} KiB: rejected requests from #${cutFrom + 1} on are answered without their errors; fix the errors shown and send the rest again`,
  }
}
