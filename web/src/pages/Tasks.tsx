import { useEffect, useState } from 'react'
import { api, query } from '../api/http.js'
import type { TaskListResponse } from '../api/types.js'
import { ProgressBar } from '../components/ProgressBar.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { bytes, count } from '../format.js'
import { Link, navigate, path, useRoute } from '../router.js'
import { useSession } from '../session.js'
import { progressParts } from '../states.js'
import { useApi } from '../use-api.js'

type Status = 'all' | 'active' | 'complete' | 'failed'

/** The task list: search by name, filter by status (and user, for operators), newest first, more on demand. */
export function Tasks() {
  const { isOperator } = useSession()
  const { params } = useRoute()
  const [q, setQ] = useState(params.get('q') ?? '')
  const [user, setUser] = useState(params.get('user') ?? '')
  const [status, setStatus] = useState<Status>((params.get('status') as Status | null) ?? 'all')
  const [filter, setFilter] = useState({ q, user, status })
  // typing settles for a moment before the list is asked again
  useEffect(() => {
    const t = window.setTimeout(() => setFilter({ q, user, status }), 250)
    return () => window.clearTimeout(t)
  }, [q, user, status])
  const url = `/api/v1/tasks${query({ q: filter.q, user: filter.user, status: filter.status, limit: 50 })}`
  const tasks = useApi<TaskListResponse>(url, () => true)
  const [more, setMore] = useState<TaskListResponse['items']>([])
  const [next, setNext] = useState<string | null>(null)
  useEffect(() => {
    setMore([])
    setNext(tasks.data?.next ?? null)
  }, [tasks.data])
  const loadMore = async () => {
    if (!next) return
    const page = await api<TaskListResponse>(
      `/api/v1/tasks${query({ q: filter.q, user: filter.user, status: filter.status, limit: 50, cursor: next })}`,
    )
    setMore((m) => [...m, ...page.items])
    setNext(page.next)
  }
  const items = [...(tasks.data?.items ?? []), ...more]
  return (
    <>
      <h1>Tasks</h1>
      <div className="filters">
        <input
          type="search"
          placeholder="search task names"
          value={q}
          onChange={(e) => setQ(e.target.value)}
        />
        {isOperator && (
          <input type="search" placeholder="user" value={user} onChange={(e) => setUser(e.target.value)} />
        )}
        <select value={status} onChange={(e) => setStatus(e.target.value as Status)} aria-label="status">
          <option value="all">all tasks</option>
          <option value="active">with files in progress</option>
          <option value="complete">complete</option>
          <option value="failed">with failures</option>
        </select>
      </div>
      {tasks.error && <ErrorBox message={tasks.error} />}
      {!tasks.data && !tasks.error && <Loading />}
      {tasks.data && (
        <table className="grid" data-testid="task-table">
          <thead>
            <tr>
              <th>task</th>
              <th>user</th>
              <th className="wide">progress</th>
              <th className="num">files</th>
              <th className="num">done</th>
              <th className="num">failed</th>
              <th className="num">in flight</th>
              <th className="num">waiting</th>
              <th className="num">bytes done</th>
              <th>publication</th>
            </tr>
          </thead>
          <tbody>
            {items.map((t) => {
              const p = progressParts(t.states)
              return (
                <tr key={`${t.task}\0${t.user}`} data-task={t.task} data-user={t.user}>
                  <td>
                    <Link to={path('tasks', t.task)}>{t.task}</Link>
                  </td>
                  <td>{t.user}</td>
                  <td>
                    <ProgressBar states={t.states} />
                  </td>
                  <td className="num">{count(t.total)}</td>
                  <td className="num">{count(p.done)}</td>
                  <td className="num">{count(p.failed)}</td>
                  <td className="num">{count(p.inFlight)}</td>
                  <td className="num">{count(p.waiting)}</td>
                  <td className="num">
                    {bytes(t.bytes.done)} / {bytes(t.bytes.total)}
                  </td>
                  <td className="publication">{publicationText(t.publication)}</td>
                </tr>
              )
            })}
          </tbody>
        </table>
      )}
      {tasks.data && items.length === 0 && <p className="muted">No task matches.</p>}
      {next && (
        <button type="button" onClick={() => void loadMore()}>
          More tasks
        </button>
      )}
      <p>
        <button type="button" className="link-button" onClick={() => navigate('/files')}>
          Search files instead →
        </button>
      </p>
    </>
  )
}

/** "40 / 50 published, 2 failed", or a dash for a task that asked for no publication. */
function publicationText(p: Partial<Record<string, number>>): string {
  const total = Object.values(p).reduce<number>((n, x) => n + (x ?? 0), 0)
  if (total === 0) return '—'
  const failed = p.FAILED ? `, ${count(p.FAILED)} failed` : ''
  return `${count(p.PUBLISHED ?? 0)} / ${count(total)} published${failed}`
}
