/**
 * The dashboard: who the browser is (login), then the pages. The login form fits the server: a username with
 * --insecure-dev, a bearer token when issuers are configured; with a client certificate nothing is asked.
 */
import { useCallback, useEffect, useMemo, useState } from 'react'
import { ApiError, api, setApiCredential } from './api/http.js'
import { type Credential, storeCredential, storedCredential } from './api/session.js'
import type { LoginOptionsResponse, WhoamiResponse } from './api/types.js'
import { Layout } from './components/Layout.js'
import { ErrorBox, Loading } from './components/Status.js'
import { LiveProvider } from './live.js'
import { Login } from './pages/Login.js'
import { Pages } from './pages/Pages.js'
import { type Session, SessionContext } from './session.js'

interface LoggedIn {
  credential: Credential
  me: WhoamiResponse
}

/** Asks the API who a credential is; null when it is refused. */
async function whoami(c: Credential): Promise<WhoamiResponse> {
  setApiCredential(c, () => {})
  return api<WhoamiResponse>('/api/v1/whoami')
}

export function App() {
  const [options, setOptions] = useState<LoginOptionsResponse | null>(null)
  const [user, setUser] = useState<LoggedIn | null>(null)
  const [checking, setChecking] = useState(true)
  const [fatal, setFatal] = useState<string | null>(null)

  const login = useCallback(async (c: Credential) => {
    const me = await whoami(c)
    storeCredential(c)
    setUser({ credential: c, me })
  }, [])

  const logout = useCallback(() => {
    storeCredential(null)
    setApiCredential(null, () => {})
    setUser(null)
  }, [])

  useEffect(() => {
    void (async () => {
      try {
        const o = await api<LoginOptionsResponse>('/api/login-options')
        setOptions(o)
        const stored = storedCredential()
        // a presented client certificate is tried at once; a refusal just shows the login page
        const first = stored ?? (o.certificatePresented ? ({ kind: 'certificate' } as const) : null)
        if (first) await login(first).catch((e: unknown) => console.warn('stored credential refused', e))
      } catch (e) {
        setFatal(e instanceof ApiError ? e.message : `cannot reach the ASO server: ${String(e)}`)
      } finally {
        setChecking(false)
      }
    })()
  }, [login])

  // a credential the API stops accepting (an expired token) leads back to the login page
  useEffect(() => {
    if (user) setApiCredential(user.credential, logout)
  }, [user, logout])

  const session = useMemo<Session | null>(
    () => (user ? { me: user.me, isOperator: user.me.role !== 'user', logout } : null),
    [user, logout],
  )

  if (fatal) return <ErrorBox message={fatal} />
  if (checking || !options) return <Loading />
  if (!session || !user) return <Login options={options} onLogin={login} />
  return (
    <SessionContext.Provider value={session}>
      <LiveProvider credential={user.credential}>
        <Layout insecureDev={options.insecureDev}>
          <Pages />
        </Layout>
      </LiveProvider>
    </SessionContext.Provider>
  )
}
