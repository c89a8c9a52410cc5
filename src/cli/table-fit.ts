/**
 * Sizes a table's columns to a width (the terminal's): the widest shrinkable columns give way first, down to
 * their minimum; a column marked `below` moves to a full-width line under its row when even that is not enough.
 */

/**
 * keep: never cut (ids); truncate: each line cut with an ellipsis; wrap: lines wrapped at words;
 * below: wraps, or moves under its row when the other columns leave it too little room
 */
export type Fit = 'keep' | 'truncate' | 'wrap' | 'below'

export interface Column {
  head: string
  fit?: Fit
  /** the narrowest the column may become (characters, padding excluded) */
  min?: number
}

export interface FittedTable {
  columns: Required<Column>[]
  /** content widths of the columns kept in the grid, padding excluded */
  widths: number[]
  rows: { cells: string[]; below: string | null }[]
}

/** What a row of `n` cells of these widths takes with cli-table3's borders and one space of padding a side. */
export function gridWidth(widths: readonly number[]): number {
  return widths.reduce((a, w) => a + w + 2, 0) + widths.length + 1
}

const lineWidth = (text: string) => Math.max(0, ...text.split('\n').map((l) => l.length))

export function truncateLine(line: string, width: number): string {
  return line.length <= width ? line : `${line.slice(0, Math.max(0, width - 1))}…`
}

/** Wraps each line at spaces; a word longer than the width is cut into pieces. */
export function wrapText(text: string, width: number): string {
  const w = Math.max(1, width)
  const out: string[] = []
  for (const line of text.split('\n')) {
    let current = ''
    for (const word of line.split(' ')) {
      if (current && current.length + 1 + word.length <= w) {
        current += ` ${word}`
        continue
      }
      let rest = word
      // a word longer than a whole line (a path, a URL) fills the current line first
      if (current && rest.length > w && current.length + 2 <= w) {
        const room = w - current.length - 1
        out.push(`${current} ${rest.slice(0, room)}`)
        rest = rest.slice(room)
      } else if (current) out.push(current)
      while (rest.length > w) {
        out.push(rest.slice(0, w))
        rest = rest.slice(w)
      }
      current = rest
    }
    out.push(current)
  }
  return out.join('\n')
}

function shape(text: string, fit: Fit, width: number): string {
  if (fit === 'keep') return text
  if (fit === 'truncate')
    return text
      .split('\n')
      .map((l) => truncateLine(l, width))
      .join('\n')
  return wrapText(text, width)
}

/** Shrinks the widest shrinkable columns one character at a time until the grid fits or all are at their minimum. */
function shrink(natural: number[], columns: Required<Column>[], limit: number): number[] {
  const widths = [...natural]
  const floor = columns.map((c, i) => Math.min(natural[i]!, c.min))
  while (gridWidth(widths) > limit) {
    let widest = -1
    for (let i = 0; i < widths.length; i++) {
      if (columns[i]!.fit === 'keep' || widths[i]! <= floor[i]!) continue
      if (widest < 0 || widths[i]! > widths[widest]!) widest = i
    }
    if (widest < 0) break
    widths[widest]!--
  }
  return widths
}

function normalise(c: string | Column): Required<Column> {
  const col = typeof c === 'string' ? { head: c } : c
  const fit = col.fit ?? 'truncate'
  const min = col.min ?? (fit === 'below' ? 30 : Math.max(3, col.head.length))
  return { head: col.head, fit, min }
}

/** Fits the table to `limit` characters (undefined: no limit). */
export function fitTable(
  head: readonly (string | Column)[],
  rows: readonly (readonly string[])[],
  limit: number | undefined,
): FittedTable {
  let columns = head.map(normalise)
  let cells = rows.map((r) => [...r])
  const natural = (cols: Required<Column>[], body: string[][]) =>
    cols.map((c, i) => Math.max(lineWidth(c.head), ...body.map((r) => lineWidth(r[i] ?? ''))))
  let widths = natural(columns, cells)
  if (limit === undefined || gridWidth(widths) <= limit) {
    return { columns, widths, rows: cells.map((c) => ({ cells: c, below: null })) }
  }
  widths = shrink(widths, columns, limit)
  let belowTexts: (string | null)[] = cells.map(() => null)
  const belowAt = columns.findIndex((c) => c.fit === 'below')
  if (gridWidth(widths) > limit && belowAt >= 0) {
    const { head: label } = columns[belowAt]!
    belowTexts = cells.map((r) => (r[belowAt] ? `${label}: ${r[belowAt]}` : null))
    columns = columns.filter((_, i) => i !== belowAt)
    cells = cells.map((r) => r.filter((_, i) => i !== belowAt))
    widths = shrink(natural(columns, cells), columns, limit)
  }
  // a line under the row spans the grid: every column's content, padding and the separators between them
  const spanWidth = gridWidth(widths) - 4
  return {
    columns,
    widths,
    rows: cells.map((r, n) => ({
      cells: r.map((text, i) => shape(text, columns[i]!.fit, widths[i]!)),
      below: belowTexts[n] ? wrapText(belowTexts[n]!, spanWidth) : null,
    })),
  }
}
