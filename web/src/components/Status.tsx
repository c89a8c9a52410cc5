/** What a page shows while its data loads or when the API refused. */
export function Loading() {
  return <p className="muted">Loading…</p>
}

export function ErrorBox({ message }: { message: string }) {
  return (
    <p className="error" role="alert">
      {message}
    </p>
  )
}

export function Empty({ children }: { children: string }) {
  return <p className="muted">{children}</p>
}
