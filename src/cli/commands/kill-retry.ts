import { type BackendOptions, openBackend, selectorOf } from '../backend.js'

type Options = BackendOptions & { task?: string; json?: boolean }

function notFoundLine(ids: readonly string[]): string {
  return ids.length ? `; no transfer with id ${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''}` : ''
}

/** `aso kill --task T | IDS…` */
export async function killCommand(ids: string[], opts: Options) {
  const sel = selectorOf(ids, opts.task)
  const backend = await openBackend(opts)
  try {
    const r = await backend.kill(sel)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      process.stdout.write(
        `${r.killed} killed; ${r.killing} being cancelled at their engine (they end KILLED once it confirms)${notFoundLine(r.notFound)}\n`,
      )
    }
  } finally {
    await backend.close()
  }
}

/** `aso retry --task T | IDS…`: FAILED and KILLED files get a new round of attempts. */
export async function retryCommand(ids: string[], opts: Options) {
  const sel = selectorOf(ids, opts.task)
  const backend = await openBackend(opts)
  try {
    const r = await backend.retry(sel)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      process.stdout.write(
        `${r.retried} queued again${r.refused ? `; ${r.refused} already DONE (a new job retry with a higher jobRetry replaces a DONE file)` : ''}${notFoundLine(r.notFound)}\n`,
      )
    }
  } finally {
    await backend.close()
  }
}
