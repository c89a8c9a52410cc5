/**
 * Distinguished names as sequences of RDNs (attribute type + value), never as printed strings: a certificate
 * whose subject is `DC=org, DC=test, OU="Users/CN=alice"` prints as `/DC=org/DC=test/OU=Users/CN=alice`, the
 * same text as alice's four-RDN DN, so identities are compared RDN by RDN. Names are read from DER here,
 * printed in the grid (slash) and OpenSSL (comma) forms, compared, and configured DNs (aso.yaml
 * `users.<name>.dns`, OpenSSL slash form) are parsed into the same form, and refused when that parse could be
 * read two ways.
 */
import {
  AsnArray,
  AsnProp,
  AsnPropTypes,
  AsnType,
  AsnTypeTypes,
  type IAsnConverter,
} from '@peculiar/asn1-schema'
import type { AsnType as Asn1Block } from 'asn1js'
import { contentOf, parseDer } from './der.js'

export interface DnAttribute {
  oid: string
  /** OpenSSL's short name (`CN`, `DC`, `OU`, `emailAddress`...), or the dotted OID when it has none */
  name: string
  value: string
}

/** One relative distinguished name: usually one attribute, several for a multi-valued RDN. */
export type Rdn = DnAttribute[]

export const OID_CN = '2.5.4.3'

/** OpenSSL's short attribute names, by OID: how formatSlashDn prints them. */
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
}

// ---------------------------------------------------------------------------------------------------------
// Reading a DER Name

/**
 * An attribute value decoded by its own string type, as OpenSSL prints it: UTF8String as UTF-8, BMPString and
 * UniversalString as UCS-2 / UCS-4, every other type (PrintableString, IA5String, T61String...) byte by byte.
 */
const DIRECTORY_STRING: IAsnConverter<string, Asn1Block> = {
  fromASN(block) {
    const raw = contentOf(block)
    switch (block.idBlock.tagNumber) {
      case 12: // UTF8String
        return raw.toString('utf8')
      case 30: {
        // BMPString: UCS-2 big-endian
        const swapped = Buffer.from(raw)
        swapped.swap16()
        return swapped.toString('utf16le')
      }
      case 28: {
        // UniversalString: UCS-4 big-endian
        let out = ''
        for (let i = 0; i + 3 < raw.length; i += 4) out += String.fromCodePoint(raw.readUInt32BE(i))
        return out
      }
      default:
        return raw.toString('latin1')
    }
  },
  toASN() {
    throw new Error('names are only read with this schema')
  },
}

/** AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }, the value decoded as text. */
class AttributeText {
  type = ''
  value = ''
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(AttributeText.prototype, 'type')
AsnProp({ type: AsnPropTypes.Any, converter: DIRECTORY_STRING })(AttributeText.prototype, 'value')

/** RelativeDistinguishedName ::= SET OF AttributeTypeAndValue */
class RdnText extends AsnArray<AttributeText> {}
AsnType({ type: AsnTypeTypes.Set, itemType: AttributeText })(RdnText)

/** Name ::= SEQUENCE OF RelativeDistinguishedName, as a schema field type (a certificate's issuer, subject...). */
export class NameText extends AsnArray<RdnText> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: RdnText })(NameText)

/** A Name read with the NameText schema, as plain RDN arrays. */
export function rdnsOf(name: NameText): Rdn[] {
  return Array.from(name, (rdn) =>
    Array.from(rdn, ({ type, value }) => ({ oid: type, name: SHORT_NAMES[type] ?? type, value })),
  )
}

/** Decodes a DER Name (e.g. a CRL's issuer or a CSR's subject, as its original bytes). */
export function parseName(der: Uint8Array): Rdn[] {
  return rdnsOf(parseDer(der, NameText))
}

// ---------------------------------------------------------------------------------------------------------
// Printing and comparing

/** The grid (OpenSSL one-line) form: `/DC=ch/DC=cern/OU=Users/CN=alice`, RDNs in certificate order. */
export function formatSlashDn(rdns: readonly Rdn[]): string {
  return rdns
    .flat()
    .map((a) => `/${a.name}=${a.value}`)
    .join('')
}

/** The comma form OpenSSL prints by default (`DC=ch, DC=cern, CN=alice`), as FTS's error messages show it. */
export function formatCommaDn(rdns: readonly Rdn[]): string {
  return rdns
    .flat()
    .map((a) => `${a.name}=${a.value}`)
    .join(', ')
}

function rdnKey(rdn: Rdn): string {
  return rdn
    .map((a) => `${a.oid}=${a.value}`)
    .sort()
    .join('+')
}

/** Name equality, attribute by attribute (order of RDNs matters, order inside a multi-valued RDN does not). */
export function sameName(a: readonly Rdn[], b: readonly Rdn[]): boolean {
  return a.length === b.length && a.every((rdn, i) => rdnKey(rdn) === rdnKey(b[i]!))
}

/** RFC 3820 subject rule: `subject` is `issuer` followed by exactly one more RDN, a single `CN`. */
export function isIssuerPlusOneCn(subject: readonly Rdn[], issuer: readonly Rdn[]): boolean {
  const last = subject[subject.length - 1]
  return (
    subject.length === issuer.length + 1 &&
    sameName(subject.slice(0, -1), issuer) &&
    last?.length === 1 &&
    last[0]!.oid === OID_CN
  )
}

/** A key equal for two names exactly when they have the same RDNs, in order (attribute order inside one RDN ignored). */
export function dnKey(rdns: readonly Rdn[]): string {
  return JSON.stringify(rdns.map((rdn) => rdn.map((a) => [a.oid, a.value]).sort()))
}

// ---------------------------------------------------------------------------------------------------------
// Configured DNs (OpenSSL slash form)

/** Parse-side names: the printed short names, any case, plus the aliases OpenSSL also accepts for email. */
const OIDS = new Map([
  ...Object.entries(SHORT_NAMES).map(([oid, name]) => [name.toLowerCase(), oid] as const),
  ['email', '1.2.840.113549.1.9.1'],
  ['e', '1.2.840.113549.1.9.1'],
])
const DOTTED = /^\d+(\.\d+)+$/

function oidOfName(name: string): string | undefined {
  if (DOTTED.test(name)) return name
  return OIDS.get(name.toLowerCase())
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
