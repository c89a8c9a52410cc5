import Table from 'cli-table3'
import { PUBLICATION_STATES } from '../domain/publication.js'
import { formatSize } from '../domain/size.js'
import { TRANSFER_STATES, type TransferState } from '../domain/states.js'
import type { PublicationState } from '../domain/transfer.js'
import { type Column, fitTable, truncateLine, wrapText } from './table-fit.js'

export type { Column } from './table-fit.js'

/** The width tables fit: the terminal's, else $COLUMNS; undefined (no limit) when output goes to a file or pipe. */
export function terminalWidth(
  stream: { isTTY?: boolean; columns?: number } = process.stdout,
): number | undefined {
  if (stream.isTTY && stream.columns) return stream.columns
  const env = Number(process.env.COLUMNS)
  return Number.isInteger(env) && env > 0 ? env : undefined
}

/** Lines wrapped to `width` (default: the terminal's), continuations indented under their line's text. */
export function fitLines(lines: readonly string[], width = terminalWidth()): string {
  return lines
    .map((line) => {
      if (width === undefined || line.length <= width) return line
      const indent = ' '.repeat((/^ */.exec(line)?.[0].length ?? 0) + 2)
      const [first = '', ...rest] = wrapText(line.trimStart(), width - indent.length).split('\n')
      return [`${indent.slice(2)}${first}`, ...rest.map((l) => `${indent}${l}`)].join('\n')
    })
    .join('\n')
}

/**
 * A bordered table that fits `width` (default: the terminal's): long cells are cut with an ellipsis or wrapped
 * as their column says; columns marked `keep` (ids) are never cut.
 */
export function table(
  head: readonly (string | Column)[],
  rows: readonly (readonly (string | number)[])[],
  opts: { width?: number } = {},
): string {
  const width = 'width' in opts ? opts.width : terminalWidth()
  const fitted = fitTable(
    head,
    rows.map((r) => r.map(String)),
    width,
  )
  const t = new Table({
    head: fitted.columns.map((c, i) => (c.fit === 'keep' ? c.head : truncateLine(c.head, fitted.widths[i]!))),
    colWidths: fitted.widths.map((w) => w + 2),
    style: { head: [], border: [] },
  })
  for (const r of fitted.rows) {
    t.push(r.cells)
    if (r.below !== null) t.push([{ colSpan: r.cells.length, content: r.below }])
  }
  return t.toString()
}

/** Bytes the way people read them (one rule with the quota messages: domain/size.ts). */
export const bytes = formatSize

/** "DONE 150  FAILED 4  NEW 20" in the state machine's order. */
export function stateLine(states: Partial<Record<TransferState, number>>): string {
  return TRANSFER_STATES.filter((s) => states[s])
    .map((s) => `${s} ${states[s]}`)
    .join('  ')
}

/**
 * "PENDING 20  PUBLISHED 130  NOT_REQUIRED 4", or '' when no file asked for publication (NOT_REQUIRED alone
 * says nothing worth a line).
 */
export function publicationLine(counts: Record<PublicationState, number>): string {
  if (PUBLICATION_STATES.every((s) => s === 'NOT_REQUIRED' || counts[s] === 0)) return ''
  return PUBLICATION_STATES.filter((s) => s !== 'NOT_REQUIRED' && counts[s])
    .concat(counts.NOT_REQUIRED ? ['NOT_REQUIRED'] : [])
    .map((s) => `${s} ${counts[s]}`)
    .join('  ')
}

export function iso(ms: number | null): string {
  return ms === null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
