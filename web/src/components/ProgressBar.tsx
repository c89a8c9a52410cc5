import type { TransferState } from '../api/types.js'
import { count } from '../format.js'
import { progressParts, STATE_COLOURS } from '../states.js'

/** done / failed / in flight / waiting of a set of files, as one bar with a tooltip. */
export function ProgressBar({ states }: { states: Partial<Record<TransferState, number>> }) {
  const p = progressParts(states)
  const total = p.done + p.failed + p.inFlight + p.waiting
  const parts = [
    { key: 'done', n: p.done, colour: STATE_COLOURS.DONE },
    { key: 'failed', n: p.failed, colour: STATE_COLOURS.FAILED },
    { key: 'in flight', n: p.inFlight, colour: STATE_COLOURS.SUBMITTED },
    { key: 'waiting', n: p.waiting, colour: '#cfd5df' },
  ]
  const title = parts.map((x) => `${x.key} ${count(x.n)}`).join(', ')
  return (
    <div className="progress" title={title} role="progressbar" aria-valuenow={p.done} aria-valuemax={total}>
      {total > 0 &&
        parts
          .filter((x) => x.n > 0)
          .map((x) => (
            <span key={x.key} style={{ width: `${(100 * x.n) / total}%`, background: x.colour }} />
          ))}
    </div>
  )
}
