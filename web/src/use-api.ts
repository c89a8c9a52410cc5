import { useCallback, useEffect, useRef, useState } from 'react'
import { api } from './api/http.js'
import type { TransferEvent } from './api/types.js'
import { useOnTransitions } from './live.js'

export interface Loaded<T> {
  data: T | null
  error: string | null
  loading: boolean
  reload(): void
}

/**
 * GETs `path` (null: nothing yet) and keeps the answer fresh: again whenever a transition `live` accepts
 * arrives on the event stream. The previous answer stays on screen while the next one loads.
 */
export function useApi<T>(path: string | null, live?: (e: TransferEvent) => boolean): Loaded<T> {
  const [data, setData] = useState<T | null>(null)
  const [error, setError] = useState<string | null>(null)
  const [loading, setLoading] = useState(path !== null)
  const generation = useRef(0)
  const load = useCallback(() => {
    if (path === null) return
    const mine = ++generation.current
    setLoading(true)
    api<T>(path).then(
      (d) => {
        if (mine !== generation.current) return
        setData(d)
        setError(null)
        setLoading(false)
      },
      (e: unknown) => {
        if (mine !== generation.current) return
        setError(e instanceof Error ? e.message : String(e))
        setLoading(false)
      },
    )
  }, [path])
  useEffect(() => {
    setData(null)
    load()
  }, [load])
  useOnTransitions(live ?? (() => false), load)
  return { data, error, loading, reload: load }
}
