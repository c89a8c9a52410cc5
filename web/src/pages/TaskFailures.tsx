import type { FailureClassesResponse, TaskSummaryResponse } from '../api/types.js'
import { count } from '../format.js'
import { useApi } from '../use-api.js'

/** A task's failure reasons grouped by class, each class with what it means and what to do. */
export function TaskFailures({ summary }: { summary: TaskSummaryResponse }) {
  const classes = useApi<FailureClassesResponse>('/api/v1/failure-classes')
  if (summary.failures.length === 0) return null
  const hints = new Map((classes.data?.classes ?? []).map((c) => [c.class as string, c.hint]))
  const groups = new Map<string, TaskSummaryResponse['failures']>()
  for (const f of summary.failures) {
    const key = f.failureClass ?? 'unclassified'
    groups.set(key, [...(groups.get(key) ?? []), f])
  }
  const ordered = [...groups.entries()].sort(
    ([, a], [, b]) => b.reduce((n, f) => n + f.n, 0) - a.reduce((n, f) => n + f.n, 0),
  )
  return (
    <section className="panel" aria-label="failures by class">
      <h2>Why files failed</h2>
      {ordered.map(([cls, reasons]) => (
        <div key={cls} className="failure-class" data-class={cls}>
          <h3>
            {cls} <small>{count(reasons.reduce((n, f) => n + f.n, 0))} files</small>
          </h3>
          {hints.get(cls) && <p className="hint">{hints.get(cls)}</p>}
          <ul>
            {reasons.map((r) => (
              <li key={`${r.state}\0${r.reason}`}>
                <span className="num">{count(r.n)}×</span> <small>{r.state}</small> <code>{r.reason}</code>
              </li>
            ))}
          </ul>
        </div>
      ))}
    </section>
  )
}
