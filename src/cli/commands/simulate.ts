import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { AsoError } from '../../domain/errors.js'
import { POLICIES, type PolicyName } from '../../sim/policies.js'
import { htmlReport, tableRows } from '../../sim/report.js'
import { simulate } from '../../sim/run.js'
import { loadScenario } from '../../sim/scenario.js'
import { positiveNumber } from '../args.js'
import { table } from '../format.js'

export interface SimulateCommandOptions {
  json?: boolean
  report?: string
  scale?: string
  seed?: string
  policies?: string
  database?: string
  quiet?: boolean
}

function policiesOption(value: string): PolicyName[] {
  const names = value.split(',').map((s) => s.trim())
  for (const n of names) {
    if (!POLICIES.includes(n as PolicyName))
      throw new AsoError('usage', `--policies: "${n}" is not a policy; use any of ${POLICIES.join(',')}`)
  }
  return names as PolicyName[]
}

/** `aso simulate SCENARIO`: the scenario under each policy on a virtual clock; table, --json, --report DIR. */
export async function simulateCommand(scenarioName: string, opts: SimulateCommandOptions) {
  let scenario: ReturnType<typeof loadScenario>
  try {
    scenario = loadScenario(scenarioName)
  } catch (e) {
    throw new AsoError('usage', (e as Error).message)
  }
  const scale = opts.scale === undefined ? 1 : positiveNumber(opts.scale, '--scale', 10)
  let seed: number | undefined
  if (opts.seed !== undefined) {
    seed = Number(opts.seed)
    if (!Number.isInteger(seed)) throw new AsoError('usage', `--seed: "${opts.seed}" must be a whole number`)
  }
  const policies = policiesOption(opts.policies ?? POLICIES.join(','))
  const result = await simulate(scenario, {
    scale,
    seed,
    policies,
    databaseDir: opts.database,
    progress: opts.quiet ? undefined : (line) => process.stderr.write(`${line}\n`),
  })
  if (opts.report) {
    await mkdir(opts.report, { recursive: true })
    await writeFile(path.join(opts.report, 'index.html'), htmlReport(result))
    await writeFile(path.join(opts.report, 'report.json'), `${JSON.stringify(result, null, 2)}\n`)
    if (!opts.quiet) process.stderr.write(`report written to ${path.join(opts.report, 'index.html')}\n`)
  }
  if (opts.json) {
    const { policies: ps, ...run } = result
    process.stdout.write(
      `${JSON.stringify(
        ps.map((p) => ({ ...p, run })),
        null,
        2,
      )}\n`,
    )
    return
  }
  const { head, rows } = tableRows(result)
  process.stdout.write(`${table(head, rows)}\n`)
}
