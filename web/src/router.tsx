/**
 * Page routes in the URL path (/tasks/T, /files/ID), with history.pushState: links work, reload works (the
 * server answers every page path with index.html), back and forward work.
 */
import { type MouseEvent, type ReactNode, useEffect, useState } from 'react'

export interface Route {
  /** path segments, decoded: /tasks/a%3Ab → ['tasks', 'a:b'] */
  parts: string[]
  params: URLSearchParams
}

function current(): Route {
  const parts = window.location.pathname.split('/').filter(Boolean).map(decodeURIComponent)
  return { parts, params: new URLSearchParams(window.location.search) }
}

const listeners = new Set<() => void>()
window.addEventListener('popstate', () => {
  for (const l of listeners) l()
})

export function navigate(to: string): void {
  window.history.pushState(null, '', to)
  for (const l of listeners) l()
  window.scrollTo(0, 0)
}

export function useRoute(): Route {
  const [route, setRoute] = useState(current)
  useEffect(() => {
    const l = () => setRoute(current())
    listeners.add(l)
    return () => {
      listeners.delete(l)
    }
  }, [])
  return route
}

/** A path built from segments, each encoded: path('tasks', 'a:b') → /tasks/a%3Ab */
export function path(...segments: string[]): string {
  return `/${segments.map(encodeURIComponent).join('/')}`
}

export function Link({ to, children, className }: { to: string; children: ReactNode; className?: string }) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return
    e.preventDefault()
    navigate(to)
  }
  return (
    <a href={to} onClick={onClick} className={className}>
      {children}
    </a>
  )
}
