/**
 * The scan that bounds a body before it is parsed agrees with the parsed value: it refuses exactly the JSON
 * nested deeper than the limit or holding an object with more keys than the limit, whatever the strings hold
 * (brackets, quotes, escapes, non-ASCII).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { jsonShapeProblem } from '../../src/api/json-body.js'

/** Nesting depth (a scalar is 0) and the most keys of one object, from the parsed value. */
function shapeOf(v: unknown): { depth: number; keys: number } {
  if (v === null || typeof v !== 'object') return { depth: 0, keys: 0 }
  const children = Array.isArray(v) ? v : Object.values(v)
  const own = Array.isArray(v) ? 0 : Object.keys(v).length
  let depth = 0
  let keys = own
  for (const c of children) {
    const s = shapeOf(c)
    depth = Math.max(depth, s.depth)
    keys = Math.max(keys, s.keys)
  }
  return { depth: depth + 1, keys }
}

const awkwardString = fc.oneof(
  fc.string(),
  fc.constantFrom('[[[', '{"a":1}', '\\\\"', '"', ':::', '\\\\', 'é{ü[', '\u2028'),
)
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    awkwardString,
    fc.integer(),
    fc.constant(null),
    fc.array(tie('any'), { maxLength: 4 }),
    fc.dictionary(awkwardString, tie('any'), { maxKeys: 6 }),
  ),
})).any

describe('jsonShapeProblem', () => {
  it('refuses exactly the values too deep or with too many keys in one object', () => {
    fc.assert(
      fc.property(value, fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), (v, depth, keys) => {
        const text = Buffer.from(JSON.stringify(v))
        const shape = shapeOf(JSON.parse(text.toString()))
        const problem = jsonShapeProblem(text, { depth, keys })
        // both may be exceeded: the scan names the first it meets
        const deep = shape.depth > depth
        const wide = shape.keys > keys
        if (deep && wide) expect(problem).toMatch(/more than \d+ (deep|keys)/)
        else if (deep) expect(problem).toMatch(/more than \d+ deep/)
        else if (wide) expect(problem).toMatch(/more than \d+ keys/)
        else expect(problem).toBeNull()
      }),
      { numRuns: 2000 },
    )
  })
})
