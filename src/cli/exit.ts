import { CommanderError } from 'commander'
import { AsoError } from '../domain/errors.js'

/** CLI exit codes (README.md): 0 ok, 1 some work failed, 2 timeout, 3 usage/config/connection/auth. */
export const EXIT = { ok: 0, someFailed: 1, timeout: 2, usage: 3 } as const

/** Thrown by a command to end with a given exit code after printing its result. */
export class CliExit extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`)
  }
}

/** Prints one clear line for an error (a stack only with --debug) and returns the exit code. */
export function reportError(e: unknown, debug: boolean): number {
  if (e instanceof CliExit) return e.code
  const err = e as Error
  if (e instanceof AsoError) {
    process.stderr.write(`aso: ${err.message}\n`)
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`)
    return e.code === 'timeout' ? EXIT.timeout : EXIT.usage
  }
  if (e instanceof CommanderError) {
    // commander has already printed its message
    return e.code === 'commander.helpDisplayed' ||
      e.code === 'commander.version' ||
      e.code === 'commander.help'
      ? EXIT.ok
      : EXIT.usage
  }
  process.stderr.write(`aso: ${err?.message ?? String(e)}${debug ? '' : ' (run with --debug for details)'}\n`)
  if (debug && err?.stack) process.stderr.write(`${err.stack}\n`)
  return EXIT.usage
}
