/**
 * PFN comparison. Rucio rebuilds every PFN from the RSE's protocol (hostname, port, prefix) and the stored
 * path, so its spelling differs from the one ASO wrote in harmless ways: `root://h:1094/store/x` comes back as
 * `root://h:1094//store/x` (or `.../store//x` with a `/store` prefix), `file:///x` as `file://localhost/x`.
 * Two PFNs name the same file when scheme, host, port (default filled in) and path with repeated slashes
 * collapsed agree.
 */

const DEFAULT_PORTS: Record<string, string> = {
  root: '1094',
  xroot: '1094',
  davs: '443',
  https: '443',
  http: '80',
}

/** The canonical form of a PFN, or the PFN itself when it is not a URL. */
export function canonicalPfn(pfn: string): string {
  let url: URL
  try {
    url = new URL(pfn)
  } catch {
    return pfn
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase()
  const host = scheme === 'file' && url.hostname === '' ? 'localhost' : url.hostname.toLowerCase()
  const port = url.port || DEFAULT_PORTS[scheme] || ''
  const path = decodeURIComponent(url.pathname).replace(/\/{2,}/g, '/')
  return `${scheme}://${host}${port ? `:${port}` : ''}${path}${url.search}`
}

export function samePfn(a: string, b: string): boolean {
  return canonicalPfn(a) === canonicalPfn(b)
}

/** The scheme of a PFN (`root`, `davs`, `file`), to ask Rucio for PFNs of that protocol. */
export function schemeOf(pfn: string): string {
  return /^([a-z][a-z0-9+.-]*):/i.exec(pfn)?.[1]?.toLowerCase() ?? ''
}
