import { useState } from 'react'
import { api } from '../api/http.js'
import type { UsersResponse, WeightResponse } from '../api/types.js'
import { type Confirmation, ConfirmDialog } from '../components/ConfirmDialog.js'
import { ProgressBar } from '../components/ProgressBar.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { count } from '../format.js'
import { Link, path } from '../router.js'
import { useSession } from '../session.js'
import { STATES } from '../states.js'
import { useApi } from '../use-api.js'

type UserRow = UsersResponse['users'][number]

function WeightEditor({ u, onChanged }: { u: UserRow; onChanged(): void }) {
  const [value, setValue] = useState(String(u.weight))
  const [ask, setAsk] = useState<Confirmation | null>(null)
  const n = Number(value)
  return (
    <>
      <input
        type="number"
        step="0.1"
        min="0.1"
        value={value}
        aria-label={`weight of ${u.user}`}
        onChange={(e) => setValue(e.target.value)}
      />
      <button
        type="button"
        disabled={!(n > 0) || n === u.weight}
        onClick={() =>
          setAsk({
            title: `Set the fair-share weight of ${u.user} to ${n}?`,
            body: `Now ${u.weight}. A weight of 2 gets twice the share of a link's capacity of a user with weight 1.`,
            confirm: 'Set weight',
            run: async () => {
              await api<WeightResponse>(`/api/v1/users/${encodeURIComponent(u.user)}/weight`, {
                method: 'POST',
                body: { weight: n },
              })
              onChanged()
            },
          })
        }
      >
        Set
      </button>
      <ConfirmDialog ask={ask} onClose={() => setAsk(null)} />
    </>
  )
}

export function Users() {
  const { isOperator } = useSession()
  const users = useApi<UsersResponse>('/api/v1/users', () => true)
  const [search, setSearch] = useState('')
  if (users.error) return <ErrorBox message={users.error} />
  if (!users.data) return <Loading />
  const shown = users.data.users.filter((u) => u.user.toLowerCase().includes(search.toLowerCase()))
  return (
    <>
      <h1>Users</h1>
      <div className="filters">
        <input
          type="search"
          placeholder="search users"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
      </div>
      <table className="grid">
        <thead>
          <tr>
            <th>user</th>
            <th>role</th>
            <th>weight</th>
            <th className="wide">progress</th>
            {STATES.map((s) => (
              <th key={s} className="num">
                {s}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((u) => (
            <tr key={u.user}>
              <td>
                <Link to={`${path('tasks')}?user=${encodeURIComponent(u.user)}`}>{u.user}</Link>
              </td>
              <td>{u.role}</td>
              <td className="weight">
                {isOperator ? <WeightEditor u={u} onChanged={users.reload} /> : u.weight}
              </td>
              <td>
                <ProgressBar states={u.states} />
              </td>
              {STATES.map((s) => (
                <td key={s} className="num">
                  {u.states[s] ? count(u.states[s] ?? 0) : ''}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </>
  )
}
