import { classify } from '../../domain/failures.js'

/** `aso classify "REASON"`: the class, retry verdict and hint for an engine's reason string. */
export function classifyCommand(reason: string, opts: { recoverable?: string }) {
  const recoverable = opts.recoverable === undefined ? undefined : opts.recoverable === 'true'
  process.stdout.write(`${JSON.stringify(classify(reason, recoverable))}\n`)
}
