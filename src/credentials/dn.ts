/**
 * Distinguished names as sequences of RDNs (attribute type + value), never as printed strings: a certificate
 * whose subject is `DC=org, DC=test, OU="Users/CN=alice"` prints as `/DC=org/DC=test/OU=Users/CN=alice`, the
 * same text as alice's four-RDN DN, so identities are compared RDN by RDN. Configured DNs (aso.yaml
 * `users.<name>.dns`, OpenSSL slash form) are parsed into the same form, and refused when that parse could be
 * read two ways.
 */
import type { Rdn } from './pem.js'

/** OpenSSL's short attribute names → OIDs (the names formatSlashDn prints). */
const OIDS: Record<string, string> = {
  CN: '2.5.4.3',
  SN: '2.5.4.4',
  serialNumber: '2.5.4.5',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  street: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  title: '2.5.4.12',
  postalCode: '2.5.4.17',
  GN: '2.5.4.42',
  initials: '2.5.4.43',
  generationQualifier: '2.5.4.44',
  dnQualifier: '2.5.4.46',
  pseudonym: '2.5.4.65',
  organizationIdentifier: '2.5.4.97',
  UID: '0.9.2342.19200300.100.1.1',
  DC: '0.9.2342.19200300.100.1.25',
  emailAddress: '1.2.840.113549.1.9.1',
  Email: '1.2.840.113549.1.9.1',
  E: '1.2.840.113549.1.9.1',
}
const BY_LOWER = new Map(Object.entries(OIDS).map(([k, v]) => [k.toLowerCase(), v]))
const DOTTED = /^\d+(\.\d+)+$/

function oidOfName(name: string): string | undefined {
  if (DOTTED.test(name)) return name
  return BY_LOWER.get(name.toLowerCase())
}

/** A parsed configured DN, or why it cannot be used. */
export type ParsedDn = { ok: true; rdns: Rdn[] } | { ok: false; reason: string }

/**
 * Parses a DN in the OpenSSL slash form (`/DC=org/DC=test/OU=Users/CN=alice`), one attribute per RDN, in
 * certificate order. A `/` inside a value is kept only when what follows cannot be read as an attribute
 * (`/CN=host/aso.example.org`); text like `/OU=Users/CN=alice` always splits, and anything that could also
 * be read otherwise (an unknown attribute name, `+` multi-valued RDNs, an empty value) is refused.
 */
export function parseSlashDn(text: string): ParsedDn {
  if (!text.startsWith('/')) {
    return {
      ok: false,
      reason: `"${text}" is not in the OpenSSL slash form: write it as openssl x509 -noout -subject -nameopt compat prints it, e.g. /DC=org/DC=example/OU=Users/CN=alice`,
    }
  }
  const rdns: Rdn[] = []
  for (const segment of text.slice(1).split('/')) {
    const eq = segment.indexOf('=')
    const name = eq > 0 ? segment.slice(0, eq) : undefined
    const oid = name === undefined ? undefined : oidOfName(name)
    const previous = rdns[rdns.length - 1]?.[0]
    if (oid === undefined) {
      if (name !== undefined && /^[A-Za-z][A-Za-z0-9-]*$/.test(name)) {
        return {
          ok: false,
          reason: `"${name}" in "${text}" is not an attribute name ASO knows (CN, OU, O, DC, C, L, ST, UID, emailAddress, ... or a dotted OID), so "/${segment}" could be an attribute or part of the previous value`,
        }
      }
      if (previous === undefined)
        return { ok: false, reason: `"${text}" does not start with an attribute (/CN=...)` }
      previous.value += `/${segment}` // a slash inside a value, e.g. CN=host/aso.example.org
      continue
    }
    const value = segment.slice(eq + 1)
    rdns.push([{ oid, name: name!, value }])
  }
  for (const [attr] of rdns as [Rdn[number]][]) {
    if (attr.value === '') return { ok: false, reason: `${attr.name} has an empty value in "${text}"` }
    if (/\+[A-Za-z0-9.]+=/.test(attr.value)) {
      return {
        ok: false,
        reason: `"${text}" holds a multi-valued RDN (${attr.name}=${attr.value}), which ASO cannot match unambiguously`,
      }
    }
  }
  return { ok: true, rdns }
}

/** A key equal for two names exactly when they have the same RDNs, in order (attribute order inside one RDN ignored). */
export function dnKey(rdns: readonly Rdn[]): string {
  return JSON.stringify(rdns.map((rdn) => rdn.map((a) => [a.oid, a.value]).sort()))
}
