import type { ProtocolConfig } from '../config/schema.js'

/** file:// URL for an absolute path (no percent-encoding needed: LFN segments are [A-Za-z0-9._-]). */
export function fileUrl(absPath: string): string {
  return `file://${absPath}`
}

/** Maps an LFN to a PFN with one protocol entry, or returns null when no rule matches. */
export function lfnToPfn(protocol: ProtocolConfig, lfn: string): string | null {
  let pfn: string | null = null
  if (protocol.rules?.length) {
    for (const rule of protocol.rules) {
      const m = new RegExp(rule.match).exec(lfn)
      if (m) {
        pfn = rule.pfn.replace(/\$(\d+)/g, (_, n: string) => m[Number(n)] ?? '')
        break
      }
    }
  } else if (protocol.prefix !== undefined) {
    const prefix = protocol.prefix
    pfn =
      prefix.endsWith('/') && lfn.startsWith('/') && protocol.scheme === 'file'
        ? prefix + lfn.slice(1)
        : prefix + lfn
  }
  if (pfn === null) return null
  if (protocol.scheme === 'file' && !pfn.startsWith('file://')) pfn = fileUrl(pfn)
  return pfn
}
