import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { inAnyTempArea, inTempArea, inUserNamespace, lfnProblem } from '../../src/domain/lfn.js'

describe('LFN rules', () => {
  it('accepts CMS-style LFNs', () => {
    expect(lfnProblem('/store/user/alice/CRAB3/out_1.root')).toBeNull()
    expect(lfnProblem('/store/temp/user/alice.7f3a/x/y-z_1.2.root')).toBeNull()
  })

  it.each([
    ['', /empty/],
    ['store/user/a', /start with \/store\//],
    ['/data/user/a', /start with \/store\//],
    ['/store/user/../bob/x', /"\.\."/],
    ['/store/user/./x', /"\."/],
    ['/store//user/x', /empty path segment/],
    ['/store/user/alice/', /name a file/],
    ['/store/user/al ice/x', /segment "al ice"/],
    ['/store/user/alice/x;rm', /segment/],
    [`/store/${'a'.repeat(1020)}`, /limit is 1024/],
  ])('refuses %j', (lfn, why) => {
    expect(lfnProblem(lfn)).toMatch(why)
  })

  it('property: whatever passes the rules has only safe segments and no traversal', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (tail) => {
        const lfn = `/store/${tail}`
        if (lfnProblem(lfn) !== null) return
        for (const seg of lfn.slice(1).split('/')) {
          expect(seg).toMatch(/^[A-Za-z0-9._-]+$/)
          expect(['.', '..']).not.toContain(seg)
        }
      }),
      { numRuns: 2000 },
    )
  })

  it('knows the temporary areas and namespaces of users and their groups', () => {
    expect(inTempArea('/store/temp/user/alice.abc/f', 'alice', [])).toBe(true)
    expect(inTempArea('/store/temp/user/alice/f', 'alice', [])).toBe(false)
    expect(inTempArea('/store/temp/user/bob.abc/f', 'alice', [])).toBe(false)
    expect(inTempArea('/store/temp/user/alicex.abc/f', 'alice', [])).toBe(false)
    expect(inTempArea('/store/temp/group/higgs/f', 'alice', ['higgs'])).toBe(true)
    expect(inTempArea('/store/temp/group/top/f', 'alice', ['higgs'])).toBe(false)
    expect(inUserNamespace('/store/user/alice/a/b', 'alice', [])).toBe(true)
    expect(inUserNamespace('/store/user/alice', 'alice', [])).toBe(false)
    expect(inUserNamespace('/store/user/bob/a', 'alice', [])).toBe(false)
    expect(inUserNamespace('/store/group/higgs/a', 'alice', ['higgs'])).toBe(true)
    expect(inAnyTempArea('/store/temp/user/bob.x/f')).toBe(true)
    expect(inAnyTempArea('/store/user/bob/f')).toBe(false)
  })
})
