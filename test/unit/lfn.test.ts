import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  areaPatternProblem,
  DEFAULT_AREAS,
  inAnyTempArea,
  inTempArea,
  inUserNamespace,
  lfnProblem,
} from '../../src/domain/lfn.js'

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

  it("refuses another user's temporary area whose name starts with the user's (alice vs alice.smith)", () => {
    expect(inTempArea('/store/temp/user/alice.smith.xyz/private.root', 'alice', [])).toBe(false)
    expect(inTempArea('/store/temp/user/alice.smith.xyz/private.root', 'alice.smith', [])).toBe(true)
    expect(inTempArea('/store/temp/user/alice.smith_x/f', 'alice', [])).toBe(false)
    expect(inTempArea('/store/temp/user/alice-b.7f3a/f', 'alice', [])).toBe(false)
    // CRAB's own form: the user name, a dot, a hash of the DN
    expect(inTempArea('/store/temp/user/alice.smith.0f3a9c/f', 'alice.smith', [])).toBe(true)
  })

  it('refuses area patterns under which two users could own one path', () => {
    for (const bad of [
      '/store/temp/user/{user}*/',
      '/store/temp/user/*{user}/',
      '/store/temp/user/{user}x*/',
      '/store/temp/{user}.{group}/',
      'store/temp/user/{user}.*/',
    ])
      expect(areaPatternProblem(bad), bad).not.toBeNull()
    for (const good of [
      ...Object.values(DEFAULT_AREAS),
      '/store/temp/user/{user}.tmp/',
      '/store/temp/user/*.{user}/',
      '/store/temp/user/{user}_*.x/',
      '/store/temp/{group}/{user}.*/',
    ])
      expect(areaPatternProblem(good), good).toBeNull()
  })

  it("property: no path in one user's area is in another user's, for generated names and patterns", () => {
    const nameChar = fc.constantFrom(...'abz09._-'.split(''))
    const name = fc.string({ unit: nameChar, minLength: 1, maxLength: 12 })
    const hash = fc.string({ unit: fc.constantFrom(...'a0f9'.split('')), maxLength: 6 })
    const pattern = fc.constantFrom(
      DEFAULT_AREAS.tempArea,
      DEFAULT_AREAS.userArea,
      '/store/temp/user/*.{user}/',
      '/store/temp/user/{user}_*.x/',
      '/store/temp/user/{user}-tmp/',
    )
    fc.assert(
      fc.property(pattern, name, name, hash, hash, (p, owner, other, h1, h2) => {
        fc.pre(owner !== other && areaPatternProblem(p) === null)
        // a path in owner's area: the pattern with owner's name and a hash for each *
        let k = 0
        const dir = p.replaceAll('{user}', owner).replaceAll('*', () => (k++ % 2 === 0 ? h1 : h2))
        const lfn = `${dir}f.root`
        const areas = { ...DEFAULT_AREAS, tempArea: p, userArea: p }
        expect(inTempArea(lfn, owner, [], areas)).toBe(true)
        expect(inTempArea(lfn, other, [], areas)).toBe(false)
        expect(inUserNamespace(lfn, other, [], areas)).toBe(false)
      }),
      { numRuns: 5000 },
    )
  })
})
