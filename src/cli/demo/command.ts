import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { AsoError } from '../../domain/errors.js'
import { type FailureClass, hintFor } from '../../domain/failures.js'
import { CliExit, EXIT } from '../exit.js'
import { bytes, stateLine, table } from '../format.js'
import { demoDatabase } from './database.js'
import { planDemo } from './plan.js'
import { type Progress, runDemo } from './run.js'

interface DemoOptions {
  /** --db: a PostgreSQL database (the run gets a schema of its own there) or an SQLite path */
  db?: string
  dir?: string
  files?: string
  json?: boolean
  keep?: boolean
}

function progressLine(p: Progress): string {
  const s = p.elapsedMs / 1000
  const done = (p.states.DONE ?? 0) + (p.states.FAILED ?? 0) + (p.states.KILLED ?? 0)
  return `[${s.toFixed(1)}s] ${stateLine(p.states)} | ${(done / s).toFixed(1)} files/s ${(p.doneBytes / 1e6 / s).toFixed(1)} MB/s`
}

/** `aso demo`: the whole pipeline on embedded defaults, with faults planted, in seconds. */
export async function demoCommand(opts: DemoOptions): Promise<void> {
  const files = Number(opts.files ?? 200)
  if (!Number.isInteger(files) || files < 100 || files > 100_000) {
    throw new AsoError(
      'usage',
      '--files must be a whole number from 100 to 100000 (the planted faults need 100)',
    )
  }
  const dir = opts.dir ? path.resolve(opts.dir) : await mkdtemp(path.join(tmpdir(), 'aso-demo-'))
  if (opts.dir) await mkdir(dir, { recursive: true })
  const say = (line: string) => {
    if (!opts.json) process.stdout.write(`${line}\n`)
  }
  say(`aso demo in ${dir}: 3 sites, 3 users, ${files} job outputs`)
  const database = await demoDatabase(opts.db)
  say(`database: ${database.description}`)
  let plan: Awaited<ReturnType<typeof planDemo>>
  try {
    plan = await planDemo(dir, files, database.url)
  } catch (e) {
    await database.drop()
    throw e
  }
  say(
    `planted: ${[...plan.expectedFailures.values()].filter((c) => c === 'permanent-source').length} bad sources (missing or wrong checksum), ` +
      `${[...plan.expectedFailures.values()].filter((c) => c === 'permanent-destination').length} files to a read-only directory, 1 transient fault`,
  )
  say(`injecting ${plan.requests.length} requests (${bytes(plan.totalBytes)}) and running the agent…`)
  const tty = process.stdout.isTTY && !opts.json
  let lastPrint = 0
  try {
    const summary = await runDemo(plan, (p) => {
      if (opts.json) return
      if (tty) process.stdout.write(`\r${progressLine(p)}\u001b[K`)
      else if (p.elapsedMs - lastPrint >= 1000) {
        lastPrint = p.elapsedMs
        process.stdout.write(`${progressLine(p)}\n`)
      }
    })
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`)
    } else {
      if (tty) process.stdout.write('\n')
      say(
        `\nall ${summary.total} files terminal in ${summary.seconds}s (${summary.filesPerSecond} files/s, ${summary.megabytesPerSecond} MB/s); ${summary.sourcesCleaned} temporary sources removed\n`,
      )
      say(
        table(
          ['user', 'DONE', 'FAILED', 'KILLED', 'bytes moved'],
          summary.users.map((u) => [u.user, u.done, u.failed, u.killed, bytes(u.bytes)]),
        ),
      )
      say(
        table(
          ['link', 'DONE', 'FAILED', 'bytes moved'],
          summary.links.map((l) => [l.link, l.done, l.failed, bytes(l.bytes)]),
        ),
      )
      say('\nwhy the failures failed:')
      say(
        table(
          ['user', 'destination LFN', 'class', 'reason'],
          summary.failures.map((f) => [
            f.user,
            f.destinationLfn.replace(/^\/store\/user\//, '…/'),
            f.class,
            f.reason.slice(0, 70),
          ]),
        ),
      )
      for (const c of Object.keys(summary.byClass)) say(`  ${c}: ${hintFor(c as FailureClass)}`)
      say(`\nexplore: aso --config ${plan.configPath} status | explain <id>`)
      say(
        summary.surprises.length
          ? `\nNOT as planted:\n  ${summary.surprises.join('\n  ')}`
          : '\nthe run behaved as planted',
      )
    }
    if (summary.surprises.length) throw new CliExit(EXIT.someFailed)
  } finally {
    await plan.undo()
    if (opts.keep || opts.dir) {
      say(`kept: ${database.description}`)
      say(
        `\nsee it in the dashboard: aso serve --config ${plan.configPath} --insecure-dev, then open ` +
          'http://127.0.0.1:8443/ as alice (a user) or ops (the operator)',
      )
    } else await database.drop()
    if (!opts.dir && !opts.keep) await rm(dir, { recursive: true, force: true })
  }
}
