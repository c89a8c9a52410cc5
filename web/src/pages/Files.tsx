import { useEffect, useState } from 'react'
import { api, query } from '../api/http.js'
import type { ListResponse } from '../api/types.js'
import { FileTable } from '../components/FileTable.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { useRoute } from '../router.js'
import { useSession } from '../session.js'
import { STATES } from '../states.js'
import { useApi } from '../use-api.js'

const FILTERS = ['task', 'user', 'source', 'destination', 'state', 'class'] as const
type Filter = Record<(typeof FILTERS)[number], string>

const CLASSES = [
  'transient',
  'permanent-source',
  'permanent-destination',
  'quota',
  'credential',
  'queue-timeout',
  'exists',
  'corrupt-copy',
  'killed',
]

/** Files with filters (what a link cell or a user leads to), in injection order, page by page. */
export function Files() {
  const { isOperator } = useSession()
  const { params } = useRoute()
  const initial = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ''])) as Filter
  const [filter, setFilter] = useState<Filter>(initial)
  const [applied, setApplied] = useState<Filter>(initial)
  useEffect(() => {
    const t = window.setTimeout(() => setApplied(filter), 300)
    return () => window.clearTimeout(t)
  }, [filter])
  const files = useApi<ListResponse>(`/api/v1/transfers${query({ ...applied, limit: 100 })}`)
  const [more, setMore] = useState<ListResponse['items']>([])
  const [next, setNext] = useState<string | null>(null)
  useEffect(() => {
    setMore([])
    setNext(files.data?.next ?? null)
  }, [files.data])
  const loadMore = async () => {
    if (!next) return
    const page = await api<ListResponse>(
      `/api/v1/transfers${query({ ...applied, limit: 100, cursor: next })}`,
    )
    setMore((m) => [...m, ...page.items])
    setNext(page.next)
  }
  const set = (k: keyof Filter) => (e: { target: { value: string } }) =>
    setFilter({ ...filter, [k]: e.target.value })
  return (
    <>
      <h1>Files</h1>
      <div className="filters">
        <input type="search" placeholder="task" value={filter.task} onChange={set('task')} />
        {isOperator && <input type="search" placeholder="user" value={filter.user} onChange={set('user')} />}
        <input type="search" placeholder="source site" value={filter.source} onChange={set('source')} />
        <input
          type="search"
          placeholder="destination site"
          value={filter.destination}
          onChange={set('destination')}
        />
        <select value={filter.state} onChange={set('state')} aria-label="state">
          <option value="">every state</option>
          {STATES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select value={filter.class} onChange={set('class')} aria-label="failure class">
          <option value="">every failure class</option>
          {CLASSES.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
      </div>
      {files.error && <ErrorBox message={files.error} />}
      {!files.data && !files.error && <Loading />}
      {files.data && <FileTable files={[...files.data.items, ...more]} />}
      {next && (
        <button type="button" onClick={() => void loadMore()}>
          More files
        </button>
      )}
    </>
  )
}
