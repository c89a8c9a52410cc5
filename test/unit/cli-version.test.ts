/** `aso --version` is the package's version, read from package.json rather than written twice. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { packageVersion } from '../../src/cli/version.js'

describe('aso --version', () => {
  it('is the version package.json gives', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    expect(packageVersion()).toBe(pkg.version)
    expect(packageVersion()).toMatch(/^\d+\.\d+\.\d+/)
  })
})
