/** How numbers, sizes, times and durations read on every page. */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB']

export function bytes(n: number): string {
  let v = n
  let u = 0
  while (Math.abs(v) >= 1000 && u < UNITS.length - 1) {
    v /= 1000
    u++
  }
  if (u === 0) return `${Math.round(v)} B`
  return `${v.toFixed(v >= 100 ? 0 : 1)} ${UNITS[u]}`
}

export function rate(bytesPerSecond: number): string {
  return `${bytes(bytesPerSecond)}/s`
}

export function count(n: number): string {
  return n.toLocaleString('en-US')
}

export function percent(fraction: number | null): string {
  if (fraction === null) return '—'
  return `${(fraction * 100).toFixed(fraction >= 0.995 && fraction < 1 ? 1 : 0)} %`
}

/** 2026-11-25 16:02:11 UTC */
export function time(ms: number): string {
  return `${new Date(ms)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '')} UTC`
}

export function duration(ms: number): string {
  const s = Math.round(Math.abs(ms) / 1000)
  if (s < 60) return `${s}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${s % 60}s`
  const h = Math.floor(m / 60)
  if (h < 48) return `${h}h ${m % 60}m`
  return `${Math.floor(h / 24)}d ${h % 24}h`
}

export function ago(ms: number, now = Date.now()): string {
  return `${duration(now - ms)} ago`
}
