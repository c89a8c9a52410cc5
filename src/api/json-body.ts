/**
 * Request bodies: only `application/json` is read (any other Content-Type is answered 415 by Fastify, so a
 * browser's form or text/plain post cannot change state), and the text is scanned for nesting and keys per
 * object before it is parsed: parsing an object of 100,000 keys alone blocks the process for seconds.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AsoError } from '../domain/errors.js'

export interface JsonShapeLimits {
  /** deepest nesting of arrays and objects */
  depth: number
  /** most keys of one object */
  keys: number
}

const QUOTE = 34
const BACKSLASH = 92
const COLON = 58
const OPEN_OBJECT = 123
const OPEN_ARRAY = 91
const CLOSE_OBJECT = 125
const CLOSE_ARRAY = 93

/**
 * Why a JSON text (its UTF-8 bytes) is too deep or has an object with too many keys, or null. One pass over
 * the bytes, stopping at the first excess; the text need not be valid JSON (the parser judges that next).
 * Bytes of multi-byte characters are all >= 0x80, so they are never taken for quotes or brackets.
 */
export function jsonShapeProblem(text: Uint8Array, limits: JsonShapeLimits): string | null {
  const keys: number[] = [0]
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (inString) {
      if (c === BACKSLASH) i++
      else if (c === QUOTE) inString = false
      continue
    }
    if (c === QUOTE) inString = true
    else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > limits.depth) {
        return `the body nests arrays and objects more than ${limits.depth} deep: send a flatter document`
      }
      keys[depth] = 0
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--
    else if (c === COLON && depth > 0 && ++keys[depth]! > limits.keys) {
      return `an object of the body has more than ${limits.keys} keys: a transfer request has at most 19 fields; remove the unknown ones`
    }
  }
  return null
}

/** Replaces Fastify's parsers by one for application/json whose shape is bounded before it is parsed. */
export function acceptJsonBodiesOnly(app: FastifyInstance, limits: JsonShapeLimits): void {
  const parse = app.getDefaultJsonParser('error', 'error')
  app.removeAllContentTypeParsers()
  // as bytes: a refused body is never decoded to a string
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer' },
    (request: FastifyRequest, body: string | Buffer, done) => {
      const bytes = typeof body === 'string' ? Buffer.from(body) : body
      const problem = jsonShapeProblem(bytes, limits)
      if (problem) {
        done(new AsoError('invalid-request', problem), undefined)
        return
      }
      parse(request, bytes.toString('utf8'), done)
    },
  )
}
