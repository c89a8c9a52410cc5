import { type ReactNode, useEffect, useRef, useState } from 'react'

export interface Confirmation {
  title: string
  body: ReactNode
  confirm: string
  danger?: boolean
  /** the action; its error is shown in the dialog */
  run(): Promise<void>
}

/** Asks before an action is taken; shows the action's own error if it fails. */
export function ConfirmDialog({ ask, onClose }: { ask: Confirmation | null; onClose(): void }) {
  const dialog = useRef<HTMLDialogElement>(null)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | null>(null)
  useEffect(() => {
    const d = dialog.current
    if (!d) return
    if (ask && !d.open) d.showModal()
    if (!ask && d.open) d.close()
    setError(null)
  }, [ask])
  const run = async () => {
    if (!ask) return
    setBusy(true)
    try {
      await ask.run()
      onClose()
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e))
    } finally {
      setBusy(false)
    }
  }
  return (
    <dialog ref={dialog} className="confirm" onClose={onClose} aria-label={ask?.title}>
      {ask && (
        <>
          <h3>{ask.title}</h3>
          <div className="confirm-body">{ask.body}</div>
          {error && <p className="error">{error}</p>}
          <div className="actions">
            <button type="button" onClick={onClose} disabled={busy}>
              Cancel
            </button>
            <button type="button" className={ask.danger ? 'danger' : 'primary'} onClick={run} disabled={busy}>
              {busy ? 'Working…' : ask.confirm}
            </button>
          </div>
        </>
      )}
    </dialog>
  )
}
