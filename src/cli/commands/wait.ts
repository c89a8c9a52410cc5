import { formatDuration, parseDuration } from '../../domain/duration.js'
import { AsoError } from '../../domain/errors.js'
import { FAILURE_CLASSES, type FailureClass, hintFor } from '../../domain/failures.js'
import { durationOption } from '../args.js'
import { type BackendOptions, openBackend } from '../backend.js'
import { CliExit, EXIT } from '../exit.js'
import { bytes, stateLine } from '../format.js'
import { startWaitProgress } from '../wait-progress.js'

const DEFAULT_TIMEOUT = '1h'
/** a job log shows a line this often while the wait goes on */
const DEFAULT_HEARTBEAT = '60s'

function isFailureClass(c: string | null): c is FailureClass {
  return c !== null && (FAILURE_CLASSES as readonly string[]).includes(c)
}

/**
 * `aso wait --task T [--timeout 1h]`: returns once every file of the task is terminal. Exit 0: all DONE;
 * 1: some FAILED or KILLED (reasons printed); 2: the timeout passed; 3: could not ask (connection, auth).
 */
export async function waitCommand(
  opts: BackendOptions & { task: string; timeout?: string; heartbeat?: string; json?: boolean },
) {
  const timeout = opts.timeout ?? DEFAULT_TIMEOUT
  const timeoutMs = parseDuration(/^\d+(\.\d+)?$/.test(timeout) ? Number(timeout) : timeout, '--timeout')
  const heartbeatMs = durationOption(opts.heartbeat ?? DEFAULT_HEARTBEAT, '--heartbeat')
  if (heartbeatMs < 1000) throw new AsoError('usage', '--heartbeat: at least 1s')
  const backend = await openBackend(opts)
  let summary: Awaited<ReturnType<typeof backend.waitTask>>
  try {
    const started = Date.now()
    summary = await backend.task(opts.task)
    if (!summary.complete) {
      // a job log then shows what was being waited for
      process.stderr.write(
        `aso: waiting for task ${summary.task}: ${summary.terminal} of ${summary.total} files terminal (${stateLine(summary.states)})\n`,
      )
      const progress = startWaitProgress(summary, { sink: process.stderr, heartbeatMs })
      try {
        summary = await backend.waitTask(opts.task, Math.max(0, timeoutMs - (Date.now() - started)), {
          sliceMs: progress.refreshMs,
          onSummary: (s) => progress.update(s),
        })
      } finally {
        progress.stop()
      }
    }
  } finally {
    await backend.close()
  }
  const failed = (summary.states.FAILED ?? 0) + (summary.states.KILLED ?? 0)
  const result = !summary.complete ? 'timeout' : failed > 0 ? 'failed' : 'done'
  if (opts.json) {
    process.stdout.write(`${JSON.stringify({ result, ...summary })}\n`)
  } else {
    process.stdout.write(
      `task ${summary.task}: ${summary.total} files, ${bytes(summary.bytes.total)}: ${stateLine(summary.states)}\n`,
    )
    for (const f of summary.failures) {
      process.stdout.write(
        `  ${f.state}${f.failureClass ? ` (${f.failureClass})` : ''} x${f.n}: ${f.reason}\n`,
      )
    }
    const classes = new Set(summary.failures.map((f) => f.failureClass).filter(isFailureClass))
    for (const c of classes) process.stdout.write(`  hint (${c}): ${hintFor(c)}\n`)
  }
  if (result === 'timeout') {
    process.stderr.write(
      `aso: timed out after ${formatDuration(timeoutMs)}: ${summary.terminal} of ${summary.total} files of task ${summary.task} are terminal; run aso wait again to keep waiting\n`,
    )
    throw new CliExit(EXIT.timeout)
  }
  if (result === 'failed') throw new CliExit(EXIT.someFailed)
}
