/** The folder import matrix as a Markdown table: who imports whom, how often, and what the table forbids. */
import type { LayerReport } from './check.js'
import { isAllowed } from './rules.js'

/** Rows import columns; a cell counts import statements, with '!' when the layer table does not allow them. */
export function importMatrix(report: LayerReport): string {
  const order = report.layers.map((l) => l.name)
  const byOrder = (a: string, b: string): number => rank(order, a) - rank(order, b) || a.localeCompare(b)
  const checked = report.layers.filter((l) => l.mayImport !== undefined).map((l) => l.name)
  const rows = [...new Set([...checked, ...report.edges.map((e) => e.from.name)])].sort(byOrder)
  const columns = [...new Set([...rows, ...report.edges.map((e) => e.to.name)])].sort(byOrder)
  const cells = new Map<string, { count: number; forbidden: boolean }>()
  for (const e of report.edges) {
    const key = `${e.from.name}\n${e.to.name}`
    const cell = cells.get(key) ?? { count: 0, forbidden: false }
    cell.count += 1
    cell.forbidden ||= !isAllowed(e)
    cells.set(key, cell)
  }
  const line = (cols: string[]): string => `| ${cols.join(' | ')} |`
  const out = [line(['from ↓ imports →', ...columns]), line(['---', ...columns.map(() => '---:')])]
  for (const r of rows) {
    const values = columns.map((c) => {
      const cell = cells.get(`${r}\n${c}`)
      return cell ? `${cell.count}${cell.forbidden ? ' !' : ''}` : ''
    })
    out.push(line([r, ...values]))
  }
  out.push(
    '',
    'Rows import columns; a cell counts import statements; `!` marks imports the layer table forbids.',
  )
  return out.join('\n')
}

/** Table rows first in table order, then folders the table lacks. */
function rank(order: string[], name: string): number {
  const i = order.indexOf(name)
  return i < 0 ? order.length : i
}
