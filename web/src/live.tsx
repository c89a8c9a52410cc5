/**
 * Live updates: one event stream per tab, shared by every page. A page's data hook asks to be told of the
 * transitions it cares about and reloads, at most once a second, when one arrives: no page reload needed.
 */
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react'
import { openEventStream } from './api/event-stream.js'
import type { Credential } from './api/session.js'
import type { TransferEvent } from './api/types.js'

type Listener = (e: TransferEvent) => void

interface Live {
  connected: boolean
  subscribe(l: Listener): () => void
}

const LiveContext = createContext<Live>({ connected: false, subscribe: () => () => {} })

export function LiveProvider({ credential, children }: { credential: Credential; children: ReactNode }) {
  const listeners = useRef(new Set<Listener>())
  const [connected, setConnected] = useState(false)
  useEffect(
    () =>
      openEventStream(credential, {
        onEvent: (e) => {
          for (const l of listeners.current) l(e)
        },
        onConnected: setConnected,
      }),
    [credential],
  )
  const subscribe = useCallback((l: Listener) => {
    listeners.current.add(l)
    return () => {
      listeners.current.delete(l)
    }
  }, [])
  const live = useMemo<Live>(() => ({ connected, subscribe }), [connected, subscribe])
  return <LiveContext.Provider value={live}>{children}</LiveContext.Provider>
}

export function useLiveStatus(): boolean {
  return useContext(LiveContext).connected
}

/** Calls `onChange` (at most once per `everyMs`, trailing) after transitions that `relevant` accepts. */
export function useOnTransitions(
  relevant: (e: TransferEvent) => boolean,
  onChange: () => void,
  everyMs = 1000,
) {
  const { subscribe } = useContext(LiveContext)
  const latest = useRef({ relevant, onChange })
  latest.current = { relevant, onChange }
  useEffect(() => {
    let timer: number | undefined
    let last = 0
    const unsubscribe = subscribe((e) => {
      if (!latest.current.relevant(e) || timer !== undefined) return
      const wait = Math.max(0, last + everyMs - Date.now())
      timer = window.setTimeout(() => {
        timer = undefined
        last = Date.now()
        latest.current.onChange()
      }, wait)
    })
    return () => {
      unsubscribe()
      if (timer !== undefined) window.clearTimeout(timer)
    }
  }, [subscribe, everyMs])
}
