import { AsoError } from './errors.js'

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** Parses `30s`, `5m`, `2h`, `14d`, `250ms` (or a number of seconds) into milliseconds. */
export function parseDuration(value: string | number, field = 'duration'): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new AsoError('invalid-config', `${field}: must be >= 0`, { field })
    return Math.round(value * 1000)
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value)
  if (!m) {
    throw new AsoError(
      'invalid-config',
      `${field}: "${value}" is not a duration; write e.g. 30s, 5m, 2h or 14d`,
      {
        field,
      },
    )
  }
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!)
}

/** Formats milliseconds the way people read them: `850ms`, `12s`, `3m20s`, `2h5m`, `3d4h`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = Math.round(ms / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`
  const h = Math.floor(m / 60)
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`
  const d = Math.floor(h / 24)
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`
}
