import type { ReactNode } from 'react'
import type { ExplanationResponse } from '../api/types.js'
import { StateBadge } from '../components/StateBadge.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { bytes, time } from '../format.js'
import { Link, path } from '../router.js'
import { useApi } from '../use-api.js'

/** One file: why it is where it is (first), its record, and the timeline of every transition and attempt. */
export function FilePage({ id }: { id: string }) {
  const x = useApi<ExplanationResponse>(
    `/api/v1/transfers/${encodeURIComponent(id)}`,
    (e) => e.transferId === id,
  )
  if (x.error) return <ErrorBox message={x.error} />
  if (!x.data) return <Loading />
  const { record: r, timeline, why, hint } = x.data
  const fields: [string, ReactNode][] = [
    ['id', <code key="id">{r.id}</code>],
    ['user', `${r.user}${r.group ? ` (${r.group})` : ''}`],
    [
      'task',
      <Link key="task" to={path('tasks', r.task)}>
        {r.task}
      </Link>,
    ],
    ['job', `${r.jobId} (retry ${r.jobRetry})`],
    ['source', `${r.source}: ${r.sourceLfn}`],
    ['destination', `${r.destination}: ${r.destinationLfn}`],
    ['size, adler32', `${bytes(r.size)} (${r.size} B), ${r.checksums.adler32}`],
    ['attempt', `${r.attempt} of ${r.maxAttempts}`],
    ['engine job', r.engineJobId ? `${r.engine}: ${r.engineJobId}` : '—'],
    ['failure', r.failureClass ? `${r.failureClass}: ${r.failureReason}` : '—'],
    ['created', time(r.createdAt)],
    ['finished', r.finishedAt ? time(r.finishedAt) : '—'],
    ['source clean-up', r.sourceCleanup],
  ]
  return (
    <>
      <h1 className="file-title">
        <StateBadge state={r.state} /> <span className="lfn">{r.destinationLfn}</span>
      </h1>
      <section className="why" aria-label="why">
        <div className="why-label">Why</div>
        <p data-testid="why">{why}</p>
        {hint && <p className="hint">{hint}</p>}
      </section>
      <section className="panel">
        <dl className="record">
          {fields.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </section>
      <section className="panel">
        <h2>Timeline</h2>
        <ol className="timeline">
          {timeline.map((e) => (
            <li key={e.id}>
              <time>{time(e.at)}</time>
              <div>
                {e.from ? <StateBadge state={e.from} /> : <span className="muted">injected</span>} →{' '}
                <StateBadge state={e.to} /> <small>attempt {e.attempt}</small>
                {e.engineJobId && <small> · job {e.engineJobId}</small>}
                <small> · by {e.actor}</small>
              </div>
              <div className="reason">{e.reason}</div>
            </li>
          ))}
        </ol>
      </section>
    </>
  )
}
