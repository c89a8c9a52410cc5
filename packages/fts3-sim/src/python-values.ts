/**
 * The server is Python: a bad submission value fails inside int(), float() or a dict lookup, and the
 * JobBuilder turns ValueError, TypeError and KeyError into its 400 messages. These helpers reproduce
 * those conversions and their wording.
 */
import { badRequest, type FtsHttpError } from './http-errors.js'

export class PyValueError extends Error {}
export class PyTypeError extends Error {}
export class PyKeyError extends Error {}

/** Python's type name of a JSON value. */
export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType'
  if (typeof v === 'string') return 'str'
  if (typeof v === 'boolean') return 'bool'
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float'
  if (Array.isArray(v)) return 'list'
  return 'dict'
}

/** Python's repr of a string, as it appears in error messages. */
export function pyRepr(s: string): string {
  return s.includes("'") && !s.includes('"') ? `"${s}"` : `'${s.replaceAll("'", "\\'")}'`
}

/** `int(v)` */
export function pyInt(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new PyValueError('cannot convert float infinity to integer')
    return Math.trunc(v)
  }
  if (typeof v === 'string') {
    if (/^\s*[+-]?\d+\s*$/.test(v)) return Number.parseInt(v.trim(), 10)
    throw new PyValueError(`invalid literal for int() with base 10: ${pyRepr(v)}`)
  }
  throw new PyTypeError(
    `int() argument must be a string, a bytes-like object or a real number, not '${pyTypeName(v)}'`,
  )
}

/** `float(v)` (None counts as 0, as the server's safe_filesize has it) */
export function pyFloat(v: unknown): number {
  if (v === null || v === undefined) return 0
  if (typeof v === 'boolean') return v ? 1 : 0
  if (typeof v === 'number') return v
  if (typeof v === 'string') {
    const n = Number(v.trim())
    if (v.trim() !== '' && Number.isFinite(n)) return n
    throw new PyValueError(`could not convert string to float: ${pyRepr(v)}`)
  }
  throw new PyTypeError(`float() argument must be a string or a real number, not '${pyTypeName(v)}'`)
}

/** The server's `safe_int`: int(v), or the default when v cannot be converted. */
export function safeInt(v: unknown, fallback = -1): number {
  try {
    return pyInt(v)
  } catch (err) {
    void err // safe_int swallows the conversion error by design
    return fallback
  }
}

/** The server's `safe_flag`: `"Y..."`/`"N..."` strings, or the value's truthiness. */
export function safeFlag(v: unknown): boolean {
  if (typeof v === 'string') return v.length > 0 && v[0]!.toUpperCase() === 'Y'
  return truthy(v)
}

export function truthy(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === '') return false
  if (Array.isArray(v)) return v.length > 0
  if (typeof v === 'object') return Object.keys(v).length > 0
  return true
}

/** The JobBuilder's translation of Python exceptions into 400s; other errors pass through. */
export function submissionError(err: unknown): FtsHttpError | unknown {
  if (err instanceof PyValueError) return badRequest(`Invalid value within the request: ${err.message}`)
  if (err instanceof PyTypeError) return badRequest(`Malformed request: ${err.message}`)
  if (err instanceof PyKeyError) return badRequest(`Missing parameter: '${err.message}'`)
  return err
}
