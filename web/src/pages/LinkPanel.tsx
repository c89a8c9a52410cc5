import { useEffect, useState } from 'react'
import { api, query } from '../api/http.js'
import type { DashboardLinksResponse, LinkChangeBody, LinkSettingResponse } from '../api/types.js'
import { type Confirmation, ConfirmDialog } from '../components/ConfirmDialog.js'
import { StateBadge } from '../components/StateBadge.js'
import { bytes, count, percent, rate } from '../format.js'
import { Link } from '../router.js'
import { useSession } from '../session.js'
import { STATES } from '../states.js'

type LinkRow = DashboardLinksResponse['links'][number]

/** A link's details, and for operators: pause or resume it, change its maxActive (each asked first). */
export function LinkPanel({ link, onChanged }: { link: LinkRow; onChanged(): void }) {
  const { isOperator } = useSession()
  const [ask, setAsk] = useState<Confirmation | null>(null)
  const [limit, setLimit] = useState(String(link.maxActive))
  useEffect(() => setLimit(String(link.maxActive)), [link.maxActive])
  const change = (body: LinkChangeBody) => async () => {
    await api<LinkSettingResponse>(`/api/v1/links/${encodeURIComponent(link.link)}`, { method: 'POST', body })
    onChanged()
  }
  const files = `/files${query({ source: link.source, destination: link.destination })}`
  return (
    <section className="panel" aria-label={`link ${link.link}`}>
      <div className="panel-head">
        <h2>{link.link}</h2>
        <Link to={files}>Show its files →</Link>
      </div>
      <p>
        {link.engine} engine · {count(link.active)} of {count(link.maxActive)} in flight (all users) ·{' '}
        {count(link.queued)} queued · {link.paused ? 'paused' : 'running'}
      </p>
      <p>
        Last hour: {count(link.lastHour.done)} done ({bytes(link.lastHour.bytes)},{' '}
        {rate(link.lastHour.throughput)}), {count(link.lastHour.failed)} failed, success{' '}
        {percent(link.lastHour.successRate)}
      </p>
      {link.topFailureClass && (
        <p className="hint">
          Most frequent failure: <strong>{link.topFailureClass.class}</strong> (
          {count(link.topFailureClass.files)} files). {link.topFailureClass.hint}
        </p>
      )}
      <div className="state-row">
        {STATES.filter((s) => link.states[s]).map((s) => (
          <span key={s}>
            <StateBadge state={s} /> {count(link.states[s] ?? 0)}
          </span>
        ))}
      </div>
      {isOperator && (
        <div className="operator-actions">
          <button
            type="button"
            className={link.paused ? 'primary' : 'danger'}
            onClick={() =>
              setAsk({
                title: `${link.paused ? 'Resume' : 'Pause'} ${link.link}?`,
                body: link.paused
                  ? 'Waiting files of every user become eligible for submission again.'
                  : 'No new file is submitted on this link until it is resumed; files in flight finish.',
                confirm: link.paused ? 'Resume link' : 'Pause link',
                danger: !link.paused,
                run: change({ paused: !link.paused }),
              })
            }
          >
            {link.paused ? 'Resume link' : 'Pause link'}
          </button>
          <label>
            maxActive{' '}
            <input
              type="number"
              min={0}
              value={limit}
              onChange={(e) => setLimit(e.target.value)}
              name="maxActive"
            />
          </label>
          <button
            type="button"
            disabled={limit === '' || Number(limit) === link.maxActive || !Number.isInteger(Number(limit))}
            onClick={() =>
              setAsk({
                title: `Set maxActive of ${link.link} to ${limit}?`,
                body: `At most ${limit} files in flight on this link (now ${link.maxActive}). Overrides aso.yaml.`,
                confirm: 'Set limit',
                run: change({ maxActive: Number(limit) }),
              })
            }
          >
            Set limit
          </button>
        </div>
      )}
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
    </section>
  )
}
