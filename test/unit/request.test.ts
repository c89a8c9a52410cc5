import { describe, expect, it } from 'vitest'
import { transferId } from '../../src/domain/ids.js'
import { validateRequest } from '../../src/domain/request.js'
import { contextFor, rawRequest } from '../support/requests.js'

const alice = { name: 'alice', role: 'user' as const, groups: ['cms'], vomsRoles: [] }

function errorsOf(over: Record<string, unknown>, ctx = contextFor()) {
  const r = validateRequest(rawRequest(1, over), ctx)
  return r.ok ? [] : r.errors
}

describe('request validation', () => {
  it('accepts a good request, applies defaults and derives the id from destination site and LFN', () => {
    const r = validateRequest(rawRequest(1, { checksums: { adler32: 'AB' } }), contextFor())
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.id).toBe(transferId('B', '/store/user/alice/f1.root'))
    expect(r.id).toMatch(/^[0-9a-f]{32}$/)
    expect(r.request).toMatchObject({ jobRetry: 0, type: 'output', priority: 3, publish: false, group: null })
    expect(r.request.checksums.adler32).toBe('000000ab')
  })

  it.each([
    [{ user: undefined }, 'user', /required/],
    [{ size: '12' }, 'size', /wrong type|number/],
    [{ size: -1 }, 'size', />= 0/],
    [{ size: 1.5 }, 'size', /whole number/],
    [{ checksums: { adler32: 'xyz' } }, 'checksums.adler32', /hexadecimal/],
    [{ checksums: undefined }, 'checksums', /required/],
    [{ priority: 9 }, 'priority', /1\.\.5/],
    [{ type: 'data' }, 'type', /output.*log/],
    [{ sourceLfn: '/store/temp/user/alice.abc/../x' }, 'sourceLfn', /\.\./],
    [{ destinationLfn: 'relative/path' }, 'destinationLfn', /\/store\//],
    [{ destination: 'T9_XX_Nowhere' }, 'destination', /unknown site "T9_XX_Nowhere"/],
    [{ destinationLfn: '/store/user/bob/f.root' }, 'destinationLfn', /outside the namespace alice may write/],
    [{ sourceLfn: '/store/temp/user/bob.1/f.root' }, 'sourceLfn', /outside alice's temporary area/],
    [{ sourcelfn: '/x' }, 'sourcelfn', /not a known field/],
    [{ callbackUrl: 'ftp://x' }, 'callbackUrl', /http/],
  ])('rejects %j naming the field', (over, field, message) => {
    const errors = errorsOf(over)
    expect(errors.map((e) => e.field)).toContain(field)
    expect(errors.find((e) => e.field === field)!.message).toMatch(message)
  })

  it('refuses a user injecting as someone else, and groups the identity does not hold', () => {
    const ctx = contextFor(['A', 'B'], alice)
    expect(errorsOf({ user: 'bob' }, ctx).map((e) => e.field)).toContain('user')
    expect(errorsOf({ group: 'atlas' }, ctx)[0]).toMatchObject({ field: 'group' })
    expect(errorsOf({ group: 'cms', destinationLfn: '/store/group/cms/f.root' }, ctx)).toEqual([])
    expect(errorsOf({ role: 'production' }, ctx)[0]).toMatchObject({ field: 'role' })
  })

  it('never throws on garbage', () => {
    for (const raw of [null, 42, 'x', [], { user: {} }, { size: Number.NaN }]) {
      const r = validateRequest(raw, contextFor())
      expect(r.ok).toBe(false)
    }
  })
})
