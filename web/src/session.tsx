import { createContext, useContext } from 'react'
import type { WhoamiResponse } from './api/types.js'

export interface Session {
  me: WhoamiResponse
  /** operators and admins act on everyone's transfers and change links and weights */
  isOperator: boolean
  logout(): void
}

export const SessionContext = createContext<Session | null>(null)

export function useSession(): Session {
  const s = useContext(SessionContext)
  if (!s) throw new Error('useSession outside a logged-in page')
  return s
}
