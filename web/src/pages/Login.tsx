import { type FormEvent, useState } from 'react'
import type { Credential } from '../api/session.js'
import type { LoginOptionsResponse } from '../api/types.js'

/** A token form, or (dev only) a username form; certificate logins never get here unless refused. */
export function Login({
  options,
  onLogin,
}: {
  options: LoginOptionsResponse
  onLogin(c: Credential): Promise<void>
}) {
  const [value, setValue] = useState('')
  const [error, setError] = useState<string | null>(null)
  const [busy, setBusy] = useState(false)
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setBusy(true)
    setError(null)
    try {
      await onLogin(
        options.insecureDev ? { kind: 'user', user: value.trim() } : { kind: 'token', token: value.trim() },
      )
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err))
    } finally {
      setBusy(false)
    }
  }
  return (
    <main className="login">
      <h1>ASO dashboard</h1>
      {options.insecureDev ? (
        <div className="warning">
          <strong>Development mode</strong> (aso serve --insecure-dev): there is no authentication, the name
          you type is who you are. Never expose such a server beyond this machine.
        </div>
      ) : (
        <p className="muted">
          {options.certificates &&
            'Your browser presented no grid certificate this server accepts (import your certificate into the browser to log in with it). '}
          {options.tokens
            ? 'Paste a bearer token (JWT) of a trusted issuer.'
            : 'This server accepts no bearer tokens.'}
        </p>
      )}
      {(options.insecureDev || options.tokens) && (
        <form onSubmit={submit}>
          <label htmlFor="credential">{options.insecureDev ? 'Username' : 'Bearer token'}</label>
          {options.insecureDev ? (
            <input
              id="credential"
              name="user"
              autoComplete="username"
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
          ) : (
            <textarea
              id="credential"
              name="token"
              rows={4}
              value={value}
              onChange={(e) => setValue(e.target.value)}
            />
          )}
          {error && <p className="error">{error}</p>}
          <button type="submit" className="primary" disabled={busy || value.trim() === ''}>
            Log in
          </button>
        </form>
      )}
    </main>
  )
}
