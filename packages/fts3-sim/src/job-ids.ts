/** Job ids as fts-rest-flask makes them: UUID version 1, or `uuid5(uuid5(BASE_ID, vo), sid)` on request. */
import { randomBytes } from 'node:crypto'
import { uuid5 } from 'aso/domain/ids'
import { voId } from './caller.js'

/** 100 ns intervals between the Gregorian epoch (1582-10-15) and the Unix epoch. */
const GREGORIAN_OFFSET = 122_192_928_000_000_000n
const node = randomBytes(6)
node[0] = node[0]! | 0x01 // a random node id has the multicast bit set (RFC 4122 §4.5)
let clockSeq = randomBytes(2).readUInt16BE() & 0x3fff
let last = 0n

/** A time-based UUID (version 1), like Python's `uuid.uuid1()`. */
export function uuid1(now: number = Date.now()): string {
  let t = BigInt(now) * 10_000n + GREGORIAN_OFFSET
  if (t <= last) {
    t = last + 1n // several ids in one millisecond: step the sub-millisecond part
    if (t - last > 10_000n) clockSeq = (clockSeq + 1) & 0x3fff
  }
  last = t
  const low = (t & 0xffffffffn).toString(16).padStart(8, '0')
  const mid = ((t >> 32n) & 0xffffn).toString(16).padStart(4, '0')
  const high = (((t >> 48n) & 0x0fffn) | 0x1000n).toString(16).padStart(4, '0')
  const seq = (clockSeq | 0x8000).toString(16).padStart(4, '0')
  return `${low}-${mid}-${high}-${seq}-${node.toString('hex')}`
}

/** The id of a deterministic submission: `uuid5(UUID(vos_id[0]), sid)`. */
export function deterministicJobId(vo: string, sid: string): string {
  return uuid5(voId(vo), sid)
}
