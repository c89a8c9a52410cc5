import type { ReactNode } from 'react'
import { useLiveStatus } from '../live.js'
import { Link, useRoute } from '../router.js'
import { useSession } from '../session.js'

const PAGES: { to: string; label: string; operator?: boolean }[] = [
  { to: '/', label: 'Overview' },
  { to: '/links', label: 'Links' },
  { to: '/users', label: 'Users' },
  { to: '/tasks', label: 'Tasks' },
  { to: '/files', label: 'Files' },
  { to: '/problems', label: 'Problems' },
  { to: '/actions', label: 'Operator actions', operator: true },
]

export function Layout({ insecureDev, children }: { insecureDev: boolean; children: ReactNode }) {
  const { me, isOperator, logout } = useSession()
  const live = useLiveStatus()
  const first = `/${useRoute().parts[0] ?? ''}`
  return (
    <>
      <header className="top">
        <span className="brand">ASO</span>
        <nav>
          {PAGES.filter((p) => !p.operator || isOperator).map((p) => (
            <Link key={p.to} to={p.to} className={first === p.to ? 'active' : ''}>
              {p.label}
            </Link>
          ))}
        </nav>
        <span className={`live ${live ? 'on' : 'off'}`} title={live ? 'live updates on' : 'reconnecting…'}>
          {live ? 'live' : 'offline'}
        </span>
        <span className="who" data-testid="who">
          {me.name} <small>({me.role})</small>
        </span>
        <button type="button" onClick={logout}>
          Log out
        </button>
      </header>
      {insecureDev && <div className="dev-banner">development mode: no authentication (--insecure-dev)</div>}
      <main className="page">{children}</main>
    </>
  )
}
