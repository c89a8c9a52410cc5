/**
 * Faults tests can ask of the double: answer the next requests of a route with a 503 HTML page (the
 * DB-timeout handler's), a 500, or after a delay longer than a client's timeout; or accept the next
 * submission and drop its response, or sit on it for a while.
 */
export type Fault = { kind: 'unavailable' } | { kind: 'internal-error' } | { kind: 'delay'; ms: number }

export interface FaultMatch {
  /** HTTP method; any when absent */
  method?: string
  /** a route pattern as registered (`/jobs/:jobList`), an exact path, or a RegExp on the path */
  path?: string | RegExp
}

export interface Fts3SimFaults {
  /** Answers the next `times` (default 1) matching requests with `fault`. */
  inject(match: FaultMatch, fault: Fault, times?: number): void
  /** The next `times` (default 1) submissions create their job, then the connection closes without an answer. */
  dropNextSubmitResponse(times?: number): void
  /**
   * The next `times` (default 1) submissions create their job, then wait `ms` before answering: the window in
   * which a client that dies has a job at FTS it never heard of.
   */
  holdNextSubmitResponse(ms: number, times?: number): void
  clear(): void
}

interface Planned {
  match: FaultMatch
  fault: Fault
  left: number
}

export class FaultPlan implements Fts3SimFaults {
  private planned: Planned[] = []
  private drops = 0
  private holds: number[] = []

  inject(match: FaultMatch, fault: Fault, times = 1): void {
    this.planned.push({ match, fault, left: times })
  }

  dropNextSubmitResponse(times = 1): void {
    this.drops += times
  }

  holdNextSubmitResponse(ms: number, times = 1): void {
    for (let i = 0; i < times; i++) this.holds.push(ms)
  }

  clear(): void {
    this.planned = []
    this.drops = 0
    this.holds = []
  }

  /** How long to sit on this submission's answer (0: answer at once). */
  takeHold(): number {
    return this.holds.shift() ?? 0
  }

  /** The fault for this request, if one is planned (each use counts down). */
  take(method: string, routePattern: string | undefined, path: string): Fault | undefined {
    const p = this.planned.find((x) => matches(x.match, method, routePattern, path))
    if (!p) return undefined
    p.left -= 1
    if (p.left <= 0) this.planned = this.planned.filter((x) => x !== p)
    return p.fault
  }

  takeDrop(): boolean {
    if (this.drops <= 0) return false
    this.drops -= 1
    return true
  }
}

function matches(m: FaultMatch, method: string, pattern: string | undefined, path: string): boolean {
  if (m.method && m.method.toUpperCase() !== method.toUpperCase()) return false
  if (m.path === undefined) return true
  if (m.path instanceof RegExp) return m.path.test(path)
  return m.path === pattern || m.path === path
}
