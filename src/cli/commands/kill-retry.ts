import { AsoError } from '../../domain/errors.js'
import type { Selector } from '../../store/types.js'
import { type GlobalOptions, localIdentity, openApp } from '../app.js'

function selector(ids: string[], task: string | undefined): Selector {
  if (!task && ids.length === 0)
    throw new AsoError('usage', 'name the transfers: --task TASK or one or more ids')
  return task ? { task, ...(ids.length ? { ids } : {}) } : { ids }
}

/** `aso kill --task T | IDS…` */
export async function killCommand(ids: string[], opts: GlobalOptions & { task?: string; json?: boolean }) {
  const app = await openApp(opts)
  try {
    const actor = `cli:${localIdentity(app.config).name}`
    const r = await app.store.kill(selector(ids, opts.task), `killed by ${actor}`, Date.now(), actor)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      process.stdout.write(
        `${r.killed} killed; ${r.killing} being cancelled at their engine (they end KILLED once it confirms)\n`,
      )
    }
  } finally {
    await app.close()
  }
}

/** `aso retry --task T | IDS…`: FAILED and KILLED files get a new round of attempts. */
export async function retryCommand(ids: string[], opts: GlobalOptions & { task?: string; json?: boolean }) {
  const app = await openApp(opts)
  try {
    const actor = `cli:${localIdentity(app.config).name}`
    const r = await app.store.retry(selector(ids, opts.task), Date.now(), actor)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      process.stdout.write(
        `${r.retried} queued again${r.refused ? `; ${r.refused} already DONE (a new job retry with a higher jobRetry replaces a DONE file)` : ''}\n`,
      )
    }
  } finally {
    await app.close()
  }
}
