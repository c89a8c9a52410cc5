/**
 * What `aso wait` shows while it waits, on standard error: on a terminal one line redrawn every second with the
 * counts per state; otherwise (a job log) a heartbeat line every so often, so that a long wait is visibly alive.
 */
import type { TaskSummaryResponse } from '../contract/schemas.js'
import { formatDuration } from '../domain/duration.js'
import { stateLine } from './format.js'
import { truncateLine } from './table-fit.js'

export interface ProgressSink {
  isTTY?: boolean
  columns?: number
  write(text: string): unknown
}

export interface WaitProgressOptions {
  sink: ProgressSink
  /** heartbeat period when the sink is not a terminal */
  heartbeatMs: number
  /** redraw period on a terminal */
  redrawMs?: number
  now?: () => number
}

export interface WaitProgress {
  /** how often the summary should be refreshed for this display */
  readonly refreshMs: number
  update(summary: TaskSummaryResponse): void
  /** stops the timer and, on a terminal, clears the line before the result is printed */
  stop(): void
}

function counts(s: TaskSummaryResponse): string {
  return `${s.terminal} of ${s.total} files terminal (${stateLine(s.states) || 'none yet'})`
}

export function startWaitProgress(first: TaskSummaryResponse, opts: WaitProgressOptions): WaitProgress {
  const now = opts.now ?? Date.now
  const started = now()
  const tty = Boolean(opts.sink.isTTY)
  const period = tty ? (opts.redrawMs ?? 1000) : opts.heartbeatMs
  let latest = first
  const draw = () => {
    const elapsed = formatDuration(now() - started)
    if (tty) {
      const line = `aso: task ${latest.task}: ${counts(latest)}, waiting ${elapsed}`
      // one column kept free: a line as wide as the terminal wraps on some terminals
      const width = opts.sink.columns ? opts.sink.columns - 1 : undefined
      opts.sink.write(`\r${width ? truncateLine(line, width) : line}\u001b[K`)
    } else {
      opts.sink.write(`aso: still waiting for task ${latest.task} after ${elapsed}: ${counts(latest)}\n`)
    }
  }
  const timer = setInterval(draw, period)
  timer.unref()
  if (tty) draw()
  return {
    // a heartbeat shows counts at most half a period old; the API's long-poll answers at most every minute
    refreshMs: tty ? period : Math.max(1000, Math.min(period / 2, 60_000)),
    update(summary) {
      latest = summary
      if (tty) draw()
    },
    stop() {
      clearInterval(timer)
      if (tty) opts.sink.write('\r\u001b[K')
    },
  }
}
