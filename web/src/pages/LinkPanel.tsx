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

/**
 * A link's details (an adaptive link's limit and the tuner's last decisions), and for operators: pause or
 * resume it, change (pin) its maxActive, unpin an adaptive link (each asked first).
 */
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
      {link.adaptive && (
        <section className="adaptive" aria-label="adaptive limit">
          <p>
            Adaptive limit {count(link.adaptive.minActive)}–{count(link.adaptive.maxActive)}:{' '}
            {link.adaptive.pinned
              ? `pinned by an operator at ${count(link.maxActive)} (the tuner's limit is ${count(link.adaptive.current)})`
              : `the tuner's limit is ${count(link.adaptive.current)}`}
          </p>
          {link.adaptive.decisions.length > 0 && (
            <ul className="decisions">
              {link.adaptive.decisions.map((d) => (
                <li key={d.at}>
                  {new Date(d.at).toISOString().replace(/\.\d{3}Z$/, 'Z')}: {d.from} → {d.to}, {d.reason}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
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
            {link.adaptive ? 'Pin limit' : 'Set limit'}
          </button>
          {link.adaptive?.pinned && (
            <button
              type="button"
              onClick={() =>
                setAsk({
                  title: `Unpin ${link.link}?`,
                  body: `The tuner moves the limit again, from ${link.adaptive?.current} within ${link.adaptive?.minActive}–${link.adaptive?.maxActive}.`,
                  confirm: 'Unpin',
                  run: change({ maxActive: null }),
                })
              }
            >
              Unpin
            </button>
          )}
        </div>
      )}
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
    </section>
  )
}
