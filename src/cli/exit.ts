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

/** The error as `--json` prints it on standard output: the API's error shape. */
export function errorEnvelope(e: unknown): { error: { code: string; message: string; field?: string } } {
  if (e instanceof AsoError) {
    return {
      error: { code: e.code, message: e.message, ...(e.field !== undefined ? { field: e.field } : {}) },
    }
  }
  if (e instanceof CommanderError) {
    return { error: { code: 'usage', message: e.message.replace(/^error: /, '') } }
  }
  const err = e as Error | undefined
  return { error: { code: 'internal', message: err?.message ?? String(e) } }
}

/** `--json` among the arguments (not after `--`): errors are then JSON on standard output as well. */
export function jsonRequested(argv: readonly string[]): boolean {
  const end = argv.indexOf('--')
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json')
}

/**
 * Prints one clear line for an error on standard error (a stack only with --debug), and with `json` also
 * `{"error": {...}}` on standard output for scripts; returns the exit code.
 */
export function reportError(e: unknown, debug: boolean, json = false): number {
  if (e instanceof CliExit) return e.code
  const code = describeError(e, debug)
  if (json && code !== EXIT.ok) process.stdout.write(`${JSON.stringify(errorEnvelope(e))}\n`)
  return code
}

function describeError(e: unknown, debug: boolean): number {
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
