import { useState } from 'react'
import { api, query } from '../api/http.js'
import type {
  KillResponse,
  ListResponse,
  PublicationRetryResponse,
  RetryResponse,
  TaskSummaryResponse,
  TransferState,
} from '../api/types.js'
import { type Confirmation, ConfirmDialog } from '../components/ConfirmDialog.js'
import { FileTable } from '../components/FileTable.js'
import { ProgressBar } from '../components/ProgressBar.js'
import { StateBadge } from '../components/StateBadge.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { bytes, count } from '../format.js'
import { PUBLICATION_STATES, STATES } from '../states.js'
import { useApi } from '../use-api.js'
import { TaskFailures } from './TaskFailures.js'

/** One task: its progress, its failures by class, its files; kill or retry it or a selection (asked first). */
export function TaskPage({ task }: { task: string }) {
  const mine = (e: { task: string }) => e.task === task
  const summary = useApi<TaskSummaryResponse>(`/api/v1/tasks/${encodeURIComponent(task)}`, mine)
  const [state, setState] = useState<TransferState | ''>('')
  const files = useApi<ListResponse>(`/api/v1/transfers${query({ task, state, limit: 200 })}`, mine)
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [ask, setAsk] = useState<Confirmation | null>(null)
  const [message, setMessage] = useState<string | null>(null)
  if (summary.error) return <ErrorBox message={summary.error} />
  if (!summary.data) return <Loading />
  const s = summary.data
  const live = s.total - s.terminal
  const failedOrKilled = (s.states.FAILED ?? 0) + (s.states.KILLED ?? 0)
  const toggle = (id: string) =>
    setSelected((old) => {
      const next = new Set(old)
      if (next.has(id)) next.delete(id)
      else next.add(id)
      return next
    })
  const publishable = PUBLICATION_STATES.some((x) => x !== 'NOT_REQUIRED' && s.publication[x] > 0)
  const act = (action: 'kill' | 'retry' | 'publish', ids?: string[]) => async () => {
    const body = ids ? { ids } : { task }
    if (action === 'publish') {
      const r = await api<PublicationRetryResponse>('/api/v1/publication/retry', { method: 'POST', body })
      setMessage(
        r.republished + r.requeued === 0
          ? 'nothing to retry: no publication is FAILED'
          : `${r.republished} files registered again (${r.blocks} block${r.blocks === 1 ? '' : 's'}), ${r.requeued} PENDING again for a new block`,
      )
    } else if (action === 'kill') {
      const r = await api<KillResponse>('/api/v1/transfers/kill', { method: 'POST', body })
      setMessage(`${r.killed} killed now, ${r.killing} being cancelled at their engine`)
    } else {
      const r = await api<RetryResponse>('/api/v1/transfers/retry', { method: 'POST', body })
      setMessage(`${r.retried} queued again${r.refused ? `, ${r.refused} refused (already DONE)` : ''}`)
    }
    setSelected(new Set())
    summary.reload()
    files.reload()
  }
  const sel = [...selected]
  return (
    <>
      <h1>
        Task <code>{task}</code>
      </h1>
      <section className="panel">
        <ProgressBar states={s.states} />
        <p>
          {count(s.total)} files, {count(s.terminal)} terminal (
          {s.complete ? 'complete' : `${count(live)} to go`}), {bytes(s.bytes.done)} of {bytes(s.bytes.total)}{' '}
          delivered
        </p>
        <div className="state-row">
          {STATES.filter((x) => s.states[x]).map((x) => (
            <span key={x} data-testid={`task-count-${x}`}>
              <StateBadge state={x} /> {count(s.states[x] ?? 0)}
            </span>
          ))}
        </div>
        {publishable && (
          <div className="state-row" data-testid="task-publication">
            publication:
            {PUBLICATION_STATES.filter((x) => s.publication[x]).map((x) => (
              <span key={x} data-testid={`task-publication-${x}`}>
                <code>{x}</code> {count(s.publication[x])}
              </span>
            ))}
          </div>
        )}
        <div className="operator-actions">
          <button
            type="button"
            className="danger"
            disabled={live === 0}
            onClick={() =>
              setAsk({
                title: `Kill task ${task}?`,
                body: `${count(live)} files not yet terminal end KILLED (files in flight are cancelled at their engine first). Files already done stay done.`,
                confirm: 'Kill task',
                danger: true,
                run: act('kill'),
              })
            }
          >
            Kill task
          </button>
          <button
            type="button"
            disabled={failedOrKilled === 0}
            onClick={() =>
              setAsk({
                title: `Retry task ${task}?`,
                body: `${count(failedOrKilled)} FAILED and KILLED files get a new round of attempts.`,
                confirm: 'Retry failed files',
                run: act('retry'),
              })
            }
          >
            Retry failed
          </button>
          {s.publication.FAILED > 0 && (
            <button
              type="button"
              onClick={() =>
                setAsk({
                  title: `Retry the publication of task ${task}?`,
                  body: `${count(s.publication.FAILED)} files whose publication FAILED are registered in the catalog again. Fix what the reason names first (aso explain shows it).`,
                  confirm: 'Retry publication',
                  run: act('publish'),
                })
              }
            >
              Retry failed publication
            </button>
          )}
          {sel.length > 0 && (
            <>
              <button
                type="button"
                className="danger"
                onClick={() =>
                  setAsk({
                    title: `Kill ${sel.length} selected files?`,
                    body: 'Those not yet terminal end KILLED.',
                    confirm: 'Kill selection',
                    danger: true,
                    run: act('kill', sel),
                  })
                }
              >
                Kill {sel.length} selected
              </button>
              <button
                type="button"
                onClick={() =>
                  setAsk({
                    title: `Retry ${sel.length} selected files?`,
                    body: 'FAILED and KILLED ones among them get a new round of attempts.',
                    confirm: 'Retry selection',
                    run: act('retry', sel),
                  })
                }
              >
                Retry {sel.length} selected
              </button>
            </>
          )}
        </div>
        {message && <p className="notice">{message}</p>}
      </section>
      <TaskFailures summary={s} />
      <section className="panel">
        <div className="panel-head">
          <h2>Files</h2>
          <select
            value={state}
            onChange={(e) => setState(e.target.value as TransferState | '')}
            aria-label="state"
          >
            <option value="">every state</option>
            {STATES.map((x) => (
              <option key={x} value={x}>
                {x}
              </option>
            ))}
          </select>
        </div>
        {files.error && <ErrorBox message={files.error} />}
        {files.data && <FileTable files={files.data.items} selected={selected} onToggle={toggle} />}
        {files.data?.next && (
          <p className="muted">The first 200 files are shown: filter by state for others.</p>
        )}
        {s.complete && <p className="muted">Every file of this task is terminal.</p>}
      </section>
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
    </>
  )
}
