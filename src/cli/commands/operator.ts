import { AsoError } from '../../domain/errors.js'
import { describeAdaptive } from '../../reports/link-limits.js'
import { intOption, positiveNumber } from '../args.js'
import { type BackendOptions, type LinkChange, openBackend } from '../backend.js'

type Options = BackendOptions & { json?: boolean }

/** `aso link pause|resume|set|unpin SOURCE DESTINATION`: operators' link settings, recorded in the audit list. */
export async function linkCommand(
  source: string,
  destination: string,
  change: LinkChange,
  opts: Options,
): Promise<void> {
  const backend = await openBackend(opts)
  try {
    const r = await backend.setLink(source, destination, change)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else {
      const adaptive = describeAdaptive(r.adaptive)
      process.stdout.write(
        `${r.link}: ${r.paused ? 'paused' : 'running'}, maxActive ${r.maxActive}${adaptive ? ` (${adaptive})` : ''}\n`,
      )
      for (const d of r.adaptive?.decisions ?? [])
        process.stdout.write(`  ${new Date(d.at).toISOString()}  ${d.from} -> ${d.to}  ${d.reason}\n`)
    }
  } finally {
    await backend.close()
  }
}

/** `--max-active N`, or `default` for the limit of aso.yaml. */
export function maxActiveOption(value: string | undefined): number | null {
  if (value === undefined) {
    throw new AsoError('usage', 'say the new limit: --max-active N (or --max-active default for aso.yaml’s)')
  }
  return value === 'default' ? null : intOption(value, '--max-active', 0, 100_000)
}

/** `aso user weight USER N`: a user's fair-share weight, recorded in the audit list. */
export async function userWeightCommand(user: string, weight: string, opts: Options): Promise<void> {
  const n = positiveNumber(weight, 'the weight', 1000)
  const backend = await openBackend(opts)
  try {
    const r = await backend.setUserWeight(user, n)
    if (opts.json) process.stdout.write(`${JSON.stringify(r)}\n`)
    else process.stdout.write(`${r.user}: fair-share weight ${r.weight}\n`)
  } finally {
    await backend.close()
  }
}
