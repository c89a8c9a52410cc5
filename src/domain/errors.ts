/** The one error family of ASO: a stable code, an HTTP status and a message that says what to do. */
export type AsoErrorCode =
  | 'invalid-request'
  | 'invalid-config'
  | 'not-found'
  | 'conflict'
  | 'forbidden'
  | 'unauthenticated'
  | 'unavailable'
  | 'timeout'
  | 'usage'
  | 'too-large'
  | 'too-many-requests'
  | 'internal'

const HTTP_STATUS: Record<AsoErrorCode, number> = {
  'invalid-request': 400,
  'invalid-config': 500,
  'not-found': 404,
  conflict: 409,
  forbidden: 403,
  unauthenticated: 401,
  unavailable: 503,
  timeout: 504,
  usage: 400,
  'too-large': 413,
  'too-many-requests': 429,
  internal: 500,
}

export class AsoError extends Error {
  readonly code: AsoErrorCode
  readonly status: number
  /** The request or config field the error is about, when there is one. */
  readonly field?: string

  constructor(code: AsoErrorCode, message: string, options?: { field?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'AsoError'
    this.code = code
    this.status = HTTP_STATUS[code]
    if (options?.field !== undefined) this.field = options.field
  }
}

/** A field-level validation problem, as reported for each rejected request item. */
export interface FieldError {
  field: string
  message: string
}
