/** Checks of command-line values that commander leaves as strings: each refusal says what to write instead. */
import { parseDuration } from '../domain/duration.js'
import { AsoError } from '../domain/errors.js'

/** A whole number within [min, max]. */
export function intOption(value: string, name: string, min: number, max: number): number {
  const n = Number(value)
  if (!/^\d+$/.test(value.trim()) || n < min || n > max) {
    throw new AsoError('usage', `${name}: "${value}" must be a whole number from ${min} to ${max}`)
  }
  return n
}

/** A number greater than 0 and at most `max`. */
export function positiveNumber(value: string, name: string, max: number): number {
  const n = Number(value)
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0 || n > max) {
    throw new AsoError('usage', `${name}: "${value}" must be a number greater than 0 and at most ${max}`)
  }
  return n
}

/** `--since`: a duration back from now (30m, 2h, 7d) or an ISO 8601 time; epoch milliseconds. */
export function sinceOption(value: string, now = Date.now()): number {
  if (/^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)\s*$/.test(value)) return now - parseDuration(value, '--since')
  const at = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN
  if (Number.isNaN(at)) {
    throw new AsoError(
      'usage',
      `--since: "${value}" is neither a duration back from now (30m, 2h, 7d) nor an ISO 8601 time (2026-01-31T12:00:00Z)`,
    )
  }
  return at
}

/** A duration such as 30s, 5m, 2h (or a number of seconds), in milliseconds. */
export function durationOption(value: string, name: string): number {
  try {
    return parseDuration(/^\d+(\.\d+)?$/.test(value) ? Number(value) : value, name)
  } catch (e) {
    throw new AsoError('usage', (e as Error).message)
  }
}
