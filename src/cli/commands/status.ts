import { TRANSFER_STATES } from '../../domain/states.js'
import { type BackendOptions, openBackend } from '../backend.js'
import { bytes, publicationLine, stateLine, table } from '../format.js'

/** `aso status`: counts per state, per link and per user. */
export async function statusCommand(opts: BackendOptions & { user?: string; task?: string; json?: boolean }) {
  const backend = await openBackend(opts)
  try {
    const report = await backend.status({
      ...(opts.user !== undefined ? { user: opts.user } : {}),
      ...(opts.task !== undefined ? { task: opts.task } : {}),
    })
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`)
      return
    }
    const scope = opts.task ? `task ${opts.task}` : opts.user ? `user ${opts.user}` : 'all transfers'
    const totalBytes = Object.values(report.bytes).reduce((a, b) => a + b, 0)
    process.stdout.write(
      `${scope}: ${report.total} files, ${bytes(totalBytes)}\n${stateLine(report.states) || 'nothing yet'}\n`,
    )
    if (report.states.FAILED) {
      const scopeArgs = `${opts.task ? ` --task ${opts.task}` : ''}${opts.user ? ` --user ${opts.user}` : ''}`
      process.stdout.write(`the FAILED files' ids: aso list --state FAILED${scopeArgs}\n`)
    }
    const publication = publicationLine(report.publication)
    if (publication) process.stdout.write(`publication: ${publication}\n`)
    const used = TRANSFER_STATES.filter((s) => report.states[s])
    if (report.links.length) {
      process.stdout.write(
        `\n${table(
          ['link', ...used],
          report.links.map((l) => [l.link, ...used.map((s) => l.states[s] ?? 0)]),
        )}\n`,
      )
    }
    if (report.users.length > 1) {
      process.stdout.write(
        `\n${table(
          ['user', ...used],
          report.users.map((u) => [u.user, ...used.map((s) => u.states[s] ?? 0)]),
        )}\n`,
      )
    }
  } finally {
    await backend.close()
  }
}
