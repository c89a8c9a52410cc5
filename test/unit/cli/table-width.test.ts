import { describe, expect, it } from 'vitest'
import { fitLines, table } from '../../../src/cli/format.js'
import { fitTable, wrapText } from '../../../src/cli/table-fit.js'

const widest = (text: string) => Math.max(...text.split('\n').map((l) => l.length))
const ID = '0123456789abcdef0123456789abcdef'
const REASON =
  'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 507 : Insufficient Storage at https://storage.example.org:1094/store/user/alice/some/long/path/file.root'

describe('tables fit the terminal width', () => {
  it('leaves a table that fits as it is', () => {
    const t = table(['a', 'b'], [['x', 'y']], { width: 80 })
    expect(t.split('\n')[1]).toBe('│ a │ b │')
  })

  it('cuts long cells with an ellipsis and never cuts a kept column (ids)', () => {
    const t = table(
      [{ head: 'id', fit: 'keep' }, 'state', { head: 'reason', fit: 'truncate' }],
      [[ID, 'FAILED', REASON]],
      { width: 80 },
    )
    expect(widest(t)).toBeLessThanOrEqual(80)
    expect(t).toContain(ID)
    expect(t).toMatch(/…/)
  })

  it('wraps a wrap column instead, losing no word', () => {
    const t = table(
      [
        { head: 'id', fit: 'keep' },
        { head: 'reason', fit: 'wrap' },
      ],
      [[ID, REASON]],
      {
        width: 60,
      },
    )
    expect(widest(t)).toBeLessThanOrEqual(60)
    const text = t.replace(/[│┌┐└┘├┤┬┴┼─\n]/g, ' ').replace(/\s+/g, ' ')
    for (const word of ['Insufficient', 'Storage', '507']) expect(text).toContain(word)
  })

  it("moves a `below` column under its row when the others leave it too little room (explain's timeline)", () => {
    const head = [
      { head: 'at', fit: 'keep' as const },
      { head: 'from', fit: 'keep' as const },
      { head: 'to', fit: 'keep' as const },
      { head: 'attempt', fit: 'keep' as const },
      { head: 'engine job', fit: 'keep' as const },
      { head: 'reason', fit: 'below' as const },
    ]
    const rows = [['2026-12-07T23:11:01Z', 'SUBMITTING', 'SUBMITTED', '1', 'a1b2c3d4-e5f6', REASON]]
    const narrow = fitTable(head, rows, 80)
    expect(narrow.columns.map((c) => c.head)).not.toContain('reason')
    expect(narrow.rows[0]!.below).toMatch(/^reason: TRANSFER/)
    const t = table(head, rows, { width: 80 })
    expect(widest(t)).toBeLessThanOrEqual(80)
    expect(t).toContain('2026-12-07T23:11:01Z')
    const wide = fitTable(head, rows, 200)
    expect(wide.columns.map((c) => c.head)).toContain('reason')
    expect(widest(table(head, rows, { width: 200 }))).toBeLessThanOrEqual(200)
  })

  it('has no limit without a terminal', () => {
    const t = table(['reason'], [[REASON]], { width: undefined })
    expect(t).toContain(REASON)
  })

  it('wraps text at words and cuts words longer than the width', () => {
    expect(wrapText('aaa bbb ccc', 7)).toBe('aaa bbb\nccc')
    expect(wrapText('abcdefghij', 4)).toBe('abcd\nefgh\nij')
  })
})

describe('lines fit the terminal width', () => {
  it('wraps a long line under its own text and leaves short ones alone', () => {
    expect(fitLines(['short', '  -> SITE_B:/store/user/alice/a/b/c.root'], 24)).toBe(
      'short\n  -> SITE_B:/store/use\n    r/alice/a/b/c.root',
    )
    expect(fitLines(['why: failed (permanent-source) after 1 attempt'], undefined)).toBe(
      'why: failed (permanent-source) after 1 attempt',
    )
  })
})
