import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startWaitProgress } from '../../../src/cli/wait-progress.js'
import type { TaskSummaryResponse } from '../../../src/contract/schemas.js'

const CLEAR_TO_END = '\u001b[K'

function summary(states: TaskSummaryResponse['states'], total = 10): TaskSummaryResponse {
  const terminal = (states.DONE ?? 0) + (states.FAILED ?? 0) + (states.KILLED ?? 0)
  return {
    task: 't1',
    total,
    terminal,
    complete: terminal === total,
    states,
    classes: {},
    counts: [],
    bytes: { total: 0, done: 0 },
    failures: [],
    publication: { NOT_REQUIRED: total, PENDING: 0, PUBLISHING: 0, PUBLISHED: 0, FAILED: 0 },
  } as TaskSummaryResponse
}

describe('aso wait progress', () => {
  beforeEach(() => vi.useFakeTimers())
  afterEach(() => vi.useRealTimers())

  it('prints a heartbeat line with the counts every period when not on a terminal', () => {
    const out: string[] = []
    const p = startWaitProgress(summary({ NEW: 10 }), {
      sink: { isTTY: false, write: (s) => out.push(s) },
      heartbeatMs: 60_000,
    })
    expect(out).toEqual([])
    vi.advanceTimersByTime(59_000)
    expect(out).toEqual([])
    p.update(summary({ DONE: 3, NEW: 7 }))
    vi.advanceTimersByTime(1000)
    expect(out).toEqual(['aso: still waiting for task t1 after 1m: 3 of 10 files terminal (NEW 7  DONE 3)\n'])
    vi.advanceTimersByTime(60_000)
    expect(out).toHaveLength(2)
    p.stop()
    vi.advanceTimersByTime(120_000)
    expect(out).toHaveLength(2)
    expect(p.refreshMs).toBe(30_000)
  })

  it('redraws one line on a terminal, fitted to its width, and clears it at the end', () => {
    const out: string[] = []
    const p = startWaitProgress(summary({ NEW: 10 }), {
      sink: { isTTY: true, columns: 40, write: (s) => out.push(s) },
      heartbeatMs: 60_000,
    })
    expect(out[0]!.startsWith('\raso: task t1: 0 of 10 files terminal')).toBe(true)
    expect(out[0]!.endsWith(CLEAR_TO_END)).toBe(true)
    p.update(summary({ SUBMITTED: 4, DONE: 6 }))
    vi.advanceTimersByTime(1000)
    expect(out).toHaveLength(3)
    for (const line of out) expect(line.slice(1, -CLEAR_TO_END.length).length).toBeLessThanOrEqual(39)
    expect(out.some((l) => l.includes('\n'))).toBe(false)
    p.stop()
    expect(out.at(-1)).toBe('\r\u001b[K')
    expect(p.refreshMs).toBe(1000)
  })
})
