import type { AuditResponse } from '../api/types.js'
import { ErrorBox, Loading } from '../components/Status.js'
import { time } from '../format.js'
import { useApi } from '../use-api.js'

/** Operator actions, newest first: link and weight changes, holds, kills and retries. */
export function Actions() {
  const audit = useApi<AuditResponse>('/api/v1/audit?limit=200', () => true)
  if (audit.error) return <ErrorBox message={audit.error} />
  if (!audit.data) return <Loading />
  return (
    <>
      <h1>Operator actions</h1>
      <table className="grid" data-testid="audit-table">
        <thead>
          <tr>
            <th>when</th>
            <th>who</th>
            <th>action</th>
            <th>on</th>
            <th>detail</th>
          </tr>
        </thead>
        <tbody>
          {audit.data.items.map((a) => (
            <tr key={a.id}>
              <td>{time(a.at)}</td>
              <td>{a.actor}</td>
              <td>{a.action}</td>
              <td>{a.target}</td>
              <td>
                <code>{JSON.stringify(a.detail)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {audit.data.items.length === 0 && <p className="muted">No action recorded yet.</p>}
    </>
  )
}
