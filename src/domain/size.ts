import { AsoError } from './errors.js'

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  pb: 1e15,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
  pib: 2 ** 50,
}

/** Parses `500MB`, `2TB`, `1.5GiB`, `100 B` (or a number of bytes) into bytes; KB/MB/... are powers of 1000. */
export function parseSize(value: string | number, field = 'size'): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new AsoError('invalid-config', `${field}: must be a whole number of bytes >= 0`, { field })
    return value
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]i?b|b)?\s*$/i.exec(value)
  if (!m) {
    throw new AsoError(
      'invalid-config',
      `${field}: "${value}" is not a size; write e.g. 500GB, 2TB or 1.5TiB (or a number of bytes)`,
      { field },
    )
  }
  return Math.round(Number(m[1]) * UNIT_BYTES[(m[2] ?? 'b').toLowerCase()]!)
}

/** Bytes the way people read them: `812 B`, `3.2 MiB`, `41 GiB`. */
export function formatSize(n: number): string {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let v = n / 1024
  let i = 0
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024
    i++
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`
}
