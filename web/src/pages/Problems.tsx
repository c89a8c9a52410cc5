import type { ReactNode } from 'react'
import { useState } from 'react'
import type { ProblemsResponse } from '../api/types.js'
import { Empty, ErrorBox, Loading } from '../components/Status.js'
import { ago, count, duration, percent, time } from '../format.js'
import { Link, path } from '../router.js'
import { useApi } from '../use-api.js'

const THRESHOLDS = ['10m', '30m', '2h', '1d'] as const

function Section({ title, n, children }: { title: string; n: number; children: ReactNode }) {
  return (
    <section className="panel" aria-label={title}>
      <h2>
        {title} <span className={`count-pill${n ? ' bad' : ''}`}>{n}</span>
      </h2>
      {children}
    </section>
  )
}

/** What does not move, and why: stuck files, held users, sites failing more, publication failed, proxies expiring. */
export function Problems() {
  const [after, setAfter] = useState<(typeof THRESHOLDS)[number]>('30m')
  const p = useApi<ProblemsResponse>(`/api/v1/dashboard/problems?stuckAfter=${after}`, () => true)
  if (p.error) return <ErrorBox message={p.error} />
  if (!p.data) return <Loading />
  const d = p.data
  return (
    <>
      <div className="panel-head">
        <h1>Problems</h1>
        <label>
          stuck after{' '}
          <select value={after} onChange={(e) => setAfter(e.target.value as (typeof THRESHOLDS)[number])}>
            {THRESHOLDS.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      </div>
      {d.couch ? (
        <Section title="CouchDB feed" n={d.couch.lagging || d.couch.lastError ? 1 : 0}>
          <p>
            {d.couch.database}:{' '}
            {d.couch.lagSeconds === null
              ? 'never read yet'
              : `at its head ${duration(d.couch.lagSeconds * 1000)} ago${d.couch.lagging ? ': the bridge lags behind the feed' : ''}`}
            ; {count(d.couch.pending)} write-backs pending, {count(d.couch.conflicts)} conflicts merged,{' '}
            {count(d.couch.forbidden)} forbidden, {count(d.couch.refused)} documents refused.
          </p>
          {d.couch.lastError ? <p className="error">{d.couch.lastError}</p> : null}
        </Section>
      ) : null}
      <Section title="Queues waiting longer than the threshold" n={d.queues.length}>
        {d.queues.length === 0 ? (
          <Empty>No file has waited that long.</Empty>
        ) : (
          <table className="grid">
            <thead>
              <tr>
                <th>link</th>
                <th>user</th>
                <th className="num">waiting</th>
                <th>oldest since</th>
                <th>why</th>
              </tr>
            </thead>
            <tbody>
              {d.queues.map((q) => (
                <tr key={`${q.link}\0${q.user}`}>
                  <td>{q.link}</td>
                  <td>{q.user}</td>
                  <td className="num">{count(q.waiting)}</td>
                  <td>
                    {q.oldestId ? (
                      <Link to={path('files', q.oldestId)}>{ago(q.oldestCreatedAt, d.asOf)}</Link>
                    ) : (
                      ago(q.oldestCreatedAt, d.asOf)
                    )}
                  </td>
                  <td>{q.why}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Engine jobs without progress" n={d.engineJobs.length}>
        {d.engineJobs.length === 0 ? (
          <Empty>Every engine job made progress within the threshold.</Empty>
        ) : (
          <table className="grid">
            <thead>
              <tr>
                <th>engine job</th>
                <th>user</th>
                <th>link</th>
                <th>state</th>
                <th className="num">files</th>
                <th>last progress</th>
              </tr>
            </thead>
            <tbody>
              {d.engineJobs.map((j) => (
                <tr key={j.jobId}>
                  <td>
                    <code>
                      {j.engine}:{j.jobId}
                    </code>
                  </td>
                  <td>{j.user}</td>
                  <td>{j.link}</td>
                  <td>{j.state}</td>
                  <td className="num">{count(j.files)}</td>
                  <td>{ago(j.lastProgressAt, d.asOf)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      <Section title="Retries overdue" n={d.retries.length}>
        {d.retries.length === 0 ? (
          <Empty>No retry is overdue.</Empty>
        ) : (
          <ul>
            {d.retries.map((r) => (
              <li key={r.id}>
                <Link to={path('files', r.id)}>{r.id.slice(0, 12)}…</Link> {r.user} on {r.link}: due{' '}
                {ago(r.nextAttemptAt, d.asOf)} ({r.failureClass}: {r.failureReason})
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Users held for credentials or quota" n={d.holds.length}>
        {d.holds.length === 0 ? (
          <Empty>Nobody is held.</Empty>
        ) : (
          <ul>
            {d.holds.map((h) => (
              <li key={`${h.user}\0${h.site}\0${h.class}`}>
                <strong>{h.user}</strong> to {h.site === '*' ? 'every site' : h.site}: {h.class} since{' '}
                {time(h.since)}, until {time(h.until)} — {h.reason}
                <div className="hint">{h.hint}</div>
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Sites whose failure rate jumped (last hour against the day before)" n={d.sites.length}>
        {d.sites.length === 0 ? (
          <Empty>No site fails more than usual.</Empty>
        ) : (
          <ul>
            {d.sites.map((s) => (
              <li key={`${s.site}\0${s.side}`}>
                <strong>{s.site}</strong> as {s.side}: {percent(s.lastHour.rate)} of {count(s.lastHour.files)}{' '}
                files failed in the last hour (before: {percent(s.before.rate)} of {count(s.before.files)})
                {s.topFailureClass && `, mostly ${s.topFailureClass}`}
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section title="Publication failed" n={d.publication.failed.length + d.publication.blocks.length}>
        {d.publication.failed.length === 0 && d.publication.blocks.length === 0 ? (
          <Empty>Every publication in the catalog went through or is on its way.</Empty>
        ) : (
          <>
            {d.publication.blocks.length > 0 && (
              <ul aria-label="blocks">
                {d.publication.blocks.map((b) => (
                  <li key={b.name}>
                    block <code>{b.name}</code> ({b.user}, {count(b.files)} files): {b.state}
                    {b.state === 'PUBLISHING' &&
                      b.nextAttemptAt !== null &&
                      `, next try ${b.nextAttemptAt > d.asOf ? `in ${duration(b.nextAttemptAt - d.asOf)}` : 'now'}`}{' '}
                    after {b.attempts} failed attempt{b.attempts === 1 ? '' : 's'} ({b.failureClass}:{' '}
                    {b.failureReason})
                  </li>
                ))}
              </ul>
            )}
            {d.publication.failed.length > 0 && (
              <table className="grid" aria-label="files">
                <thead>
                  <tr>
                    <th>file</th>
                    <th>user</th>
                    <th>task</th>
                    <th>class</th>
                    <th>reason</th>
                  </tr>
                </thead>
                <tbody>
                  {d.publication.failed.map((f) => (
                    <tr key={f.id}>
                      <td>
                        <Link to={path('files', f.id)}>{f.id.slice(0, 12)}…</Link>
                      </td>
                      <td>{f.user}</td>
                      <td>
                        <Link to={path('tasks', f.task)}>{f.task}</Link>
                      </td>
                      <td>{f.failureClass}</td>
                      <td>{f.failureReason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <div className="hint">
              Fix what the reason names, then <code>aso publish --retry --task T</code> (or the task page's
              button).
            </div>
          </>
        )}
      </Section>
      <Section title="Proxies about to expire" n={d.proxies.expiring.length}>
        {!d.proxies.checked ? (
          <Empty>No engine here acts with users’ own proxies (no fts3 configured).</Empty>
        ) : d.proxies.expiring.length === 0 ? (
          <Empty>Every proxy in use lasts beyond the next day.</Empty>
        ) : (
          <ul>
            {d.proxies.expiring.map((x) => (
              <li key={x.user}>
                <strong>{x.user}</strong>
                {x.notAfter !== null &&
                  ` (${x.notAfter > d.asOf ? `in ${duration(x.notAfter - d.asOf)}` : 'expired'})`}
                : {x.problem}
              </li>
            ))}
          </ul>
        )}
      </Section>
    </>
  )
}
