import { AsoError } from '../../domain/errors.js'
import { type BackendOptions, openBackend, selectorOf } from '../backend.js'

type Options = BackendOptions & { retry?: boolean; task?: string; json?: boolean }

/** `aso publish --retry --task T | IDS…`: FAILED publications get a new round. */
export async function publishCommand(ids: string[], opts: Options) {
  if (!opts.retry) {
    throw new AsoError(
      'usage',
      'say what to do: aso publish --retry --task T | IDS… (publication itself runs in aso serve)',
    )
  }
  const sel = selectorOf(ids, opts.task)
  const backend = await openBackend(opts)
  try {
    const r = await backend.publishRetry(sel)
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(r)}\n`)
      return
    }
    const missing = r.notFound.length
      ? `; no transfer with id ${r.notFound.slice(0, 3).join(', ')}${r.notFound.length > 3 ? ', …' : ''}`
      : ''
    if (r.republished + r.requeued === 0) {
      const what = sel.task ? `task ${sel.task}` : 'these transfers'
      process.stdout.write(
        `nothing to retry: no publication of ${what} is FAILED${r.notFailed ? ` (${r.notFailed} publishable file${r.notFailed === 1 ? ' is' : 's are'} PENDING, PUBLISHING or PUBLISHED; aso explain ID says where)` : ''}${missing}\n`,
      )
      return
    }
    const parts = [
      ...(r.republished
        ? [
            `${r.republished} file${r.republished === 1 ? '' : 's'} in ${r.blocks} block${r.blocks === 1 ? '' : 's'} registered again`,
          ]
        : []),
      ...(r.requeued
        ? [`${r.requeued} file${r.requeued === 1 ? '' : 's'} PENDING again, for a new block`]
        : []),
    ]
    process.stdout.write(
      `${parts.join('; ')}${r.notFailed ? `; ${r.notFailed} not FAILED (left alone)` : ''}${missing}\n`,
    )
  } finally {
    await backend.close()
  }
}
