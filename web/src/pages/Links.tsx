import { useState } from 'react'
import type { DashboardLinksResponse } from '../api/types.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { count, percent, rate } from '../format.js'
import { useApi } from '../use-api.js'
import { LinkPanel } from './LinkPanel.js'

type LinkRow = DashboardLinksResponse['links'][number]

/** Green to red by the last hour's success rate; grey when nothing ended. */
function cellColour(l: LinkRow): string {
  if (l.paused) return '#eceff3'
  const r = l.lastHour.successRate
  if (r === null) return '#f7f8fa'
  if (r >= 0.95) return '#dff3e6'
  if (r >= 0.8) return '#fbf0d9'
  return '#f9dede'
}

function Cell({ l, selected, onSelect }: { l: LinkRow; selected: boolean; onSelect(): void }) {
  return (
    <button
      type="button"
      className={`cell${selected ? ' selected' : ''}`}
      style={{ background: cellColour(l) }}
      onClick={onSelect}
      data-link={l.link}
      aria-label={`link ${l.link}`}
    >
      <div className="cell-main">
        {count(l.active)} / {count(l.maxActive)}
        {l.paused && <span className="tag">paused</span>}
        {l.adaptive && <span className="tag">{l.adaptive.pinned ? 'pinned' : 'adaptive'}</span>}
      </div>
      <div>{count(l.queued)} queued</div>
      <div>
        {percent(l.lastHour.successRate)} · {rate(l.lastHour.throughput)}
      </div>
      {l.topFailureClass && <div className="cell-class">{l.topFailureClass.class}</div>}
    </button>
  )
}

export function Links() {
  const links = useApi<DashboardLinksResponse>('/api/v1/dashboard/links', () => true)
  const [selected, setSelected] = useState<string | null>(null)
  const d = links.data
  if (links.error) return <ErrorBox message={links.error} />
  if (!d) return <Loading />
  const byKey = new Map(d.links.map((l) => [l.link, l]))
  const chosen = selected ? byKey.get(selected) : undefined
  return (
    <>
      <h1>Links</h1>
      <p className="muted">
        Each cell: in flight / limit, files queued, success rate and throughput over the last hour, the most
        frequent failure class. Click a cell for its details and files.
      </p>
      <div className="matrix-wrap">
        <table className="matrix">
          <thead>
            <tr>
              <th>source ↓ destination →</th>
              {d.destinations.map((dst) => (
                <th key={dst}>{dst}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {d.sources.map((src) => (
              <tr key={src}>
                <th>{src}</th>
                {d.destinations.map((dst) => {
                  const l = byKey.get(`${src}->${dst}`)
                  return (
                    <td key={dst}>
                      {l && (
                        <Cell l={l} selected={selected === l.link} onSelect={() => setSelected(l.link)} />
                      )}
                    </td>
                  )
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {chosen && <LinkPanel link={chosen} onChanged={links.reload} />}
    </>
  )
}
