/**
 * How the server reads a request body (fts-rest-flask `get_input_as_dict`, docs/fts3-rest.md §0 and §7):
 * JSON for `application/json` and for any PUT, form fields for `application/x-www-form-urlencoded`,
 * and a 400 for anything else. The result must be a JSON object.
 */
import { badRequest } from './http-errors.js'

export type Dict = Record<string, unknown>

export function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (err) {
    void err // the server's message names no detail
    throw badRequest('Badly formatted JSON request')
  }
}

/** Form fields plus query arguments, as werkzeug's `request.values` (the last value of a repeated key wins). */
function formValues(body: string, query: URLSearchParams): Dict {
  const out: Dict = {}
  for (const [k, v] of query) out[k] = v
  for (const [k, v] of new URLSearchParams(body)) out[k] = v
  return out
}

export function inputAsDict(
  method: string,
  contentType: string | undefined,
  body: string,
  query: URLSearchParams,
): Dict {
  const type = contentType ?? ''
  let input: unknown
  if (type === 'application/json, application/x-www-form-urlencoded') {
    input = parseJson(decodeURIComponent(body.replaceAll('+', ' ')))
  } else if (type.startsWith('application/json') || method === 'PUT') {
    input = parseJson(body)
  } else if (type.startsWith('application/x-www-form-urlencoded')) {
    input = formValues(body, query)
  } else {
    throw badRequest('Expecting application/json or application/x-www-form-urlencoded')
  }
  if (!isDict(input)) throw badRequest('Expecting a dictionary')
  return input
}
