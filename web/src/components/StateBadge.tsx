import type { TransferState } from '../api/types.js'
import { STATE_COLOURS } from '../states.js'

export function StateBadge({ state }: { state: TransferState }) {
  return (
    <span className="badge" style={{ background: STATE_COLOURS[state] }} data-state={state}>
      {state}
    </span>
  )
}
