/**
 * The DER layer under the credentials modules. Values are read into @peculiar/asn1-schema's typed schemas
 * (@peculiar/asn1-x509, @peculiar/asn1-csr and a few of ours) or asn1js's typed blocks. Structures are taken
 * apart into their elements' original bytes, which is what a signature covers and what a proxy copies of its
 * issuer's Name, and `verbatim` writes such bytes back unchanged.
 */
import { AsnParser } from '@peculiar/asn1-schema'
import * as asn1js from 'asn1js'

/**
 * One DER element, every byte of the input used (trailing data is refused). OCTET and BIT STRINGs are not
 * searched for embedded structures: their content is read only where a schema says what it holds.
 */
export function readDer(der: Uint8Array): asn1js.AsnType {
  const { offset, result } = asn1js.fromBER(der, { parseEmbedded: false })
  if (offset === -1 || result.error) throw new Error(`malformed DER (${result.error || 'unreadable'})`)
  if (offset !== der.byteLength) throw new Error('malformed DER (trailing bytes)')
  return result
}

/** DER bytes read into a typed schema (e.g. `parseDer(der, Certificate)`). Throws an Error saying what failed. */
export function parseDer<T>(der: Uint8Array, schema: new () => T): T {
  return AsnParser.fromASN(readDer(der), schema)
}

/**
 * The elements inside a constructed DER element (a SEQUENCE, a SET), each as its original bytes. A plain
 * tag-length walk, no decoding: it is how large structures (a CRL's revoked list, tens of thousands of
 * entries) are read piece by piece, as a full asn1js tree of them costs seconds.
 */
export function derElements(der: Uint8Array | ArrayBuffer): Buffer[] {
  const buf = Buffer.isBuffer(der) ? der : Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der))
  const outer = readTlv(buf, 0)
  if (((buf[0] ?? 0) & 0x20) === 0) throw new Error('expected a constructed DER element')
  if (outer.end !== buf.length) throw new Error('malformed DER (trailing bytes)')
  const parts: Buffer[] = []
  let pos = outer.contentStart
  while (pos < outer.end) {
    const tlv = readTlv(buf, pos)
    if (tlv.end > outer.end) throw new Error('malformed DER length')
    parts.push(buf.subarray(pos, tlv.end))
    pos = tlv.end
  }
  return parts
}

/** The content octets of one element whose tag byte must be `tag` (e.g. 0x02 for an INTEGER). */
export function derContent(tlv: Buffer, tag: number, what: string): Buffer {
  if (tlv[0] !== tag) throw new Error(`malformed ${what}`)
  const { contentStart, end } = readTlv(tlv, 0)
  if (end !== tlv.length) throw new Error(`malformed ${what}`)
  return tlv.subarray(contentStart, end)
}

function readTlv(buf: Buffer, start: number): { contentStart: number; end: number } {
  let pos = start + 1
  if (((buf[start] ?? 0) & 0x1f) === 0x1f) throw new Error('high-tag-number DER tags are not supported')
  const first = buf[pos++]
  if (first === undefined) throw new Error('truncated DER')
  let length = first
  if (first & 0x80) {
    const count = first & 0x7f
    if (count === 0 || count > 4) throw new Error('unsupported DER length')
    length = 0
    for (let i = 0; i < count; i++) {
      const b = buf[pos++]
      if (b === undefined) throw new Error('truncated DER')
      length = length * 256 + b
    }
  }
  const end = pos + length
  if (end > buf.length) throw new Error('truncated DER')
  return { contentStart: pos, end }
}

/** Children of a constructed element, [] for a primitive one. */
export function childrenOf(block: asn1js.AsnType): asn1js.AsnType[] {
  if (!block.idBlock.isConstructed) return []
  const value: unknown = (block.valueBlock as { value?: unknown }).value
  return Array.isArray(value) ? (value as asn1js.AsnType[]) : []
}

/** The content octets of a primitive element, as they were encoded (no string decoding). */
export function contentOf(block: asn1js.AsnType): Buffer {
  if (block.idBlock.isConstructed || block.lenBlock.isIndefiniteForm) {
    throw new Error('expected a primitive DER element')
  }
  const raw = block.valueBeforeDecodeView
  return Buffer.from(raw.subarray(raw.byteLength - block.lenBlock.length))
}

/** A copy of `bytes` as the ArrayBuffer that schema fields such as a signature's BIT STRING hold. */
export function arrayBufferOf(bytes: Uint8Array): ArrayBuffer {
  return Uint8Array.from(bytes).buffer
}

/** The content octets of an INTEGER (two's complement, minimal): what a serial number field holds. */
export function integerContent(n: bigint): ArrayBuffer {
  return arrayBufferOf(asn1js.Integer.fromBigInt(n).valueBlock.valueHexView)
}

/** An already encoded element that serialisation writes back byte for byte. */
class VerbatimBlock extends asn1js.BaseBlock {
  constructor(private readonly der: Uint8Array) {
    super()
  }

  override toBER(_sizeOnly?: boolean, writer?: asn1js.ViewWriter): ArrayBuffer {
    const bytes = arrayBufferOf(this.der)
    if (writer === undefined) return bytes
    writer.write(bytes)
    return new ArrayBuffer(0)
  }
}

/**
 * DER bytes standing in for a schema value (`T`: a Name, a SubjectPublicKeyInfo...) when an object is
 * serialised: @peculiar/asn1-schema writes them as they are instead of re-encoding a parsed copy.
 */
export function verbatim<T>(der: Uint8Array): T {
  const block = new VerbatimBlock(der)
  const convertible = {
    fromASN: () => convertible,
    toASN: () => block,
    toSchema: () => block,
  }
  return convertible as unknown as T
}
