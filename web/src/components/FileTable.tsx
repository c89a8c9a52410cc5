import type { TransferRecord } from '../api/types.js'
import { ago, bytes } from '../format.js'
import { Link, path } from '../router.js'
import { StateBadge } from './StateBadge.js'

/** Files in a table; with `selected`, each row has a checkbox for actions on a selection. */
export function FileTable({
  files,
  selected,
  onToggle,
}: {
  files: readonly TransferRecord[]
  selected?: ReadonlySet<string>
  onToggle?(id: string): void
}) {
  return (
    <table className="grid" data-testid="file-table">
      <thead>
        <tr>
          {selected && <th aria-label="select" />}
          <th>state</th>
          <th>destination LFN</th>
          <th>user</th>
          <th>link</th>
          <th className="num">size</th>
          <th>attempt</th>
          <th>failure</th>
          <th>updated</th>
        </tr>
      </thead>
      <tbody>
        {files.map((f) => (
          <tr key={f.id} data-id={f.id} data-state={f.state}>
            {selected && (
              <td>
                <input
                  type="checkbox"
                  aria-label={`select ${f.destinationLfn}`}
                  checked={selected.has(f.id)}
                  onChange={() => onToggle?.(f.id)}
                />
              </td>
            )}
            <td>
              <StateBadge state={f.state} />
            </td>
            <td className="lfn">
              <Link to={path('files', f.id)}>{f.destinationLfn}</Link>
            </td>
            <td>{f.user}</td>
            <td>
              {f.source}→{f.destination}
            </td>
            <td className="num">{bytes(f.size)}</td>
            <td>
              {f.attempt}/{f.maxAttempts}
            </td>
            <td className="reason" title={f.failureReason ?? ''}>
              {f.failureClass ?? ''}
            </td>
            <td title={new Date(f.updatedAt).toISOString()}>{ago(f.updatedAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
