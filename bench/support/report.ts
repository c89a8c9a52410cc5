import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import path from 'node:path'

/** One figure of a benchmark, with the baseline measured in the same run (when it has one). */
export interface Figure {
  value: number
  unit: string
  baseline?: number
  /** how to read the ratio: 'higher' (throughput) or 'lower' (cost, latency) is better */
  better?: 'higher' | 'lower'
  note?: string
}

export type Figures = Record<string, Figure>

/** `name: value unit (ratio × baseline)`, the line every benchmark prints. */
export function formatFigure(name: string, f: Figure): string {
  const v = f.value >= 100 ? f.value.toFixed(0) : f.value >= 10 ? f.value.toFixed(1) : f.value.toFixed(2)
  const ratio = f.baseline ? ` (${(f.value / f.baseline).toFixed(2)} × baseline)` : ''
  return `${name}: ${v} ${f.unit}${ratio}${f.note ? `  [${f.note}]` : ''}`
}

/** Appends a run's figures to bench/results/ as JSON. */
export function saveResults(bench: string, figures: Figures, dir = path.resolve('bench/results')): string {
  mkdirSync(dir, { recursive: true })
  const at = new Date().toISOString()
  const file = path.join(dir, `${at.replace(/[:.]/g, '-')}-${bench}.json`)
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  }
  writeFileSync(file, `${JSON.stringify({ bench, at, machine, figures }, null, 2)}\n`)
  return file
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}
