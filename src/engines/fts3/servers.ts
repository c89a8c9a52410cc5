/**
 * Which FTS3 server serves a link (ARCHITECTURE.md §7): servers are listed with the link patterns they serve
 * (`SOURCE->DESTINATION`, `*` matching any part of a site name), primaries before fallbacks, in config order.
 * A server that answers 5xx or does not answer is avoided for a while (doubling up to a limit); once that
 * passes it is tried again, and one good answer makes it healthy.
 */

export interface Fts3ServerConfig {
  url: string
  /** link patterns, e.g. `*->*`, `T2_IT_*->T2_CH_CERN` */
  links: readonly string[]
  /** used only when no primary server of the link is available */
  fallback?: boolean
}

interface Health {
  failures: number
  avoidUntil: number
  lastError: string
}

const FIRST_BACKOFF_MS = 10_000
const MAX_BACKOFF_MS = 5 * 60_000

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(`^${body}$`)
}

/** Whether `pattern` (`SRC->DST`, or one site pattern matching either end) covers the link. */
export function linkMatches(pattern: string, source: string, destination: string): boolean {
  const [src, dst] = pattern.split('->')
  if (dst === undefined) {
    const re = globToRegExp(pattern.trim())
    return re.test(source) || re.test(destination)
  }
  return globToRegExp(src!.trim()).test(source) && globToRegExp(dst.trim()).test(destination)
}

export class ServerPool {
  private readonly health = new Map<string, Health>()

  constructor(
    private readonly servers: readonly Fts3ServerConfig[],
    private readonly now: () => number = Date.now,
  ) {
    if (servers.length === 0) throw new Error('the fts3 engine needs at least one server')
  }

  /** Every server that serves the link, primaries first. */
  candidates(source: string, destination: string): string[] {
    const serving = this.servers.filter((s) => s.links.some((p) => linkMatches(p, source, destination)))
    return [...serving.filter((s) => !s.fallback), ...serving.filter((s) => s.fallback)].map((s) => s.url)
  }

  /** The servers of the link not being avoided now, in order of preference. */
  available(source: string, destination: string): string[] {
    const now = this.now()
    return this.candidates(source, destination).filter(
      (url) => (this.health.get(url)?.avoidUntil ?? 0) <= now,
    )
  }

  /** The server answered 5xx or not at all: avoid it for a while (longer each time in a row). */
  failed(url: string, why: string): void {
    const h = this.health.get(url) ?? { failures: 0, avoidUntil: 0, lastError: '' }
    h.failures += 1
    h.avoidUntil = this.now() + Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (h.failures - 1))
    h.lastError = why
    this.health.set(url, h)
  }

  /** The server answered sensibly: it is healthy again. */
  ok(url: string): void {
    this.health.delete(url)
  }

  /** Why the link has no server now (for logs and errors). */
  unavailableReason(source: string, destination: string): string {
    const urls = this.candidates(source, destination)
    if (urls.length === 0) return `no FTS3 server is configured for link ${source}->${destination}`
    const parts = urls.map((u) => {
      const h = this.health.get(u)
      return h ? `${u} avoided until ${new Date(h.avoidUntil).toISOString()} (${h.lastError})` : u
    })
    return `no FTS3 server of link ${source}->${destination} is available: ${parts.join('; ')}`
  }
}
