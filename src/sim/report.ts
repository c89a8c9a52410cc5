import type { PolicyResult } from './metrics.js'
import type { SimulationResult } from './run.js'

const GB = 1e9
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '-')
const pct = (n: number, of: number) => (of > 0 ? `${((100 * n) / of).toFixed(1)} %` : '-')
const dur = (s: number) =>
  !Number.isFinite(s)
    ? '-'
    : s < 120
      ? `${s.toFixed(0)} s`
      : s < 7200
        ? `${(s / 60).toFixed(0)} min`
        : `${(s / 3600).toFixed(1)} h`

/** The failure classes of a policy, largest first, as shares of its failed files. */
export function failureMix(p: PolicyResult): string {
  const total = p.failed.files
  return Object.entries(p.failed.byClass)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${pct(n, total)}`)
    .join(', ')
}

/** The figures of each policy as rows (policy per column) for the terminal table. */
export function tableRows(r: SimulationResult): { head: string[]; rows: string[][] } {
  const ps = r.policies
  const row = (name: string, f: (p: PolicyResult) => string) => [name, ...ps.map(f)]
  return {
    head: ['', ...ps.map((p) => p.policy)],
    rows: [
      row('files terminal', (p) => `${p.terminal} / ${p.files}`),
      row('delivered', (p) => `${p.delivered.files} (${fmt(p.delivered.bytes / 1e12, 1)} TB)`),
      row('failed', (p) => `${p.failed.files} (${pct(p.failed.files, p.files)})`),
      row('failures by class', failureMix),
      row('latency p50', (p) => dur(p.latencySeconds.p50)),
      row('latency p95', (p) => dur(p.latencySeconds.p95)),
      row('latency p99', (p) => dur(p.latencySeconds.p99)),
      row('fairness (Jain)', (p) => fmt(p.fairness, 3)),
      row(
        'link utilisation',
        (p) => `mean ${pct(p.linkUtilisation.mean, 1)}, p95 ${pct(p.linkUtilisation.p95, 1)}`,
      ),
      row('CPU-hours lost', (p) => (p.cpuHoursLost === null ? '-' : fmt(p.cpuHoursLost, 0))),
      row('copies started', (p) => String(p.copiesStarted)),
      row('virtual hours', (p) => fmt(p.virtualHours, 1)),
      row('wall seconds', (p) => fmt(p.wallSeconds, 0)),
    ],
  }
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1']

/** A line chart of one series per policy, as inline SVG. */
function lineChart(title: string, unit: string, series: { name: string; ys: number[] }[]): string {
  const W = 720
  const H = 240
  const L = 60
  const B = 30
  const n = Math.max(1, ...series.map((s) => s.ys.length))
  const max = Math.max(1e-9, ...series.flatMap((s) => s.ys))
  const x = (i: number) => L + ((W - L - 10) * i) / Math.max(1, n - 1)
  const y = (v: number) => H - B - ((H - B - 20) * v) / max
  const lines = series
    .map((s, k) => {
      const pts = s.ys.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
      return `<polyline fill="none" stroke="${COLORS[k % COLORS.length]}" stroke-width="2" points="${pts}"/>`
    })
    .join('')
  const legend = series
    .map(
      (s, k) =>
        `<text x="${L + 10 + k * 140}" y="14" fill="${COLORS[k % COLORS.length]}" font-size="12">${esc(s.name)}</text>`,
    )
    .join('')
  const ticks = [0, 0.5, 1]
    .map(
      (f) => `<text x="4" y="${y(max * f) + 4}" font-size="11">${fmt(max * f, max * f < 10 ? 1 : 0)}</text>`,
    )
    .join('')
  return `<figure><figcaption>${esc(title)} (${esc(unit)} per hour of the run)</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img"><line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#888"/><line x1="${L}" y1="20" x2="${L}" y2="${H - B}" stroke="#888"/>${ticks}<text x="${W / 2}" y="${H - 6}" font-size="11">hours</text>${legend}${lines}</svg></figure>`
}

/** Grouped horizontal bars: one group per label, one bar per policy. */
function barChart(
  title: string,
  labels: string[],
  series: { name: string; values: number[] }[],
  unit: string,
): string {
  const rowH = 14
  const groupH = series.length * rowH + 10
  const W = 720
  const L = 140
  const H = labels.length * groupH + 30
  const max = Math.max(1e-9, ...series.flatMap((s) => s.values))
  const bars = labels
    .map((label, i) => {
      const y0 = 24 + i * groupH
      const rows = series
        .map((s, k) => {
          const v = s.values[i] ?? 0
          const w = ((W - L - 90) * v) / max
          return `<rect x="${L}" y="${y0 + k * rowH}" width="${w.toFixed(1)}" height="${rowH - 2}" fill="${COLORS[k % COLORS.length]}"/><text x="${L + w + 4}" y="${y0 + k * rowH + 10}" font-size="10">${fmt(v, v < 10 ? 2 : 0)}</text>`
        })
        .join('')
      return `<text x="4" y="${y0 + 12}" font-size="12">${esc(label)}</text>${rows}`
    })
    .join('')
  const legend = series
    .map(
      (s, k) =>
        `<text x="${L + k * 140}" y="14" fill="${COLORS[k % COLORS.length]}" font-size="12">${esc(s.name)}</text>`,
    )
    .join('')
  return `<figure><figcaption>${esc(title)} (${esc(unit)})</figcaption><svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img">${legend}${bars}</svg></figure>`
}

/** The self-contained HTML report: the table, then charts as inline SVG (no script, no network). */
export function htmlReport(r: SimulationResult): string {
  const { head, rows } = tableRows(r)
  const table = `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (row) =>
        `<tr>${row.map((c, i) => (i === 0 ? `<th>${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('')}</tbody></table>`
  const ps = r.policies
  const classes = Object.keys(ps[0]?.failed.byClass ?? {})
  const charts = [
    lineChart(
      'Delivered',
      'GB',
      ps.map((p) => ({ name: p.policy, ys: p.hourly.map((h) => h.deliveredBytes / GB) })),
    ),
    lineChart(
      'Failed files',
      'files',
      ps.map((p) => ({ name: p.policy, ys: p.hourly.map((h) => h.failedFiles) })),
    ),
    barChart(
      'Latency from inject to DONE',
      ['p50', 'p95', 'p99'],
      ps.map((p) => ({
        name: p.policy,
        values: [p.latencySeconds.p50, p.latencySeconds.p95, p.latencySeconds.p99].map((s) => s / 3600),
      })),
      'hours',
    ),
    barChart(
      'Failures by class',
      classes,
      ps.map((p) => ({ name: p.policy, values: classes.map((c) => p.failed.byClass[c as 'quota']) })),
      'files',
    ),
    barChart(
      'Fairness and link utilisation',
      ['Jain index', 'mean link use'],
      ps.map((p) => ({ name: p.policy, values: [p.fairness, p.linkUtilisation.mean] })),
      '0 to 1',
    ),
  ].join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>aso simulate ${esc(r.scenario)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:60em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}figure{margin:2em 0}figcaption{font-weight:600;margin-bottom:.5em}</style>
</head><body>
<h1>aso simulate ${esc(r.scenario)}</h1>
<p>${r.files} files of ${r.jobs} jobs, ${r.sites} sites, ${r.users} users; seed ${r.seed}, scale ${r.scale}; ${fmt(r.wallSeconds, 0)} s of wall time.</p>
${ps.map((p) => `<p><b>${esc(p.policy)}</b>: ${esc(p.description)}</p>`).join('\n')}
${table}
${charts}
</body></html>
`
}
