/**
 * What `npm pack` ships of the product: the built code and its README, never the FTS3 double (its own package),
 * tests, benchmarks or sources. Listed without scripts, so the test reads the dist/ that `npm test` built.
 */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: repoRoot,
    maxBuffer: 64 * 1024 * 1024,
  })
  const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[]
  return pack!.files.map((f) => f.path)
}

describe('the product package', () => {
  it('ships dist/, the Python job client, its README and LICENSE, and nothing of the FTS3 double, the tests or the benchmarks', async () => {
    const files = await packedFiles()
    expect(files).toContain('dist/cli/main.js')
    expect(files).toContain('dist/storage/index.d.ts')
    expect(files).toContain('README.md')
    expect(files).toContain('LICENSE')
    // the job client, to ship with jobs (it has no tests inside it)
    expect(files).toContain('clients/python/aso_client.py')
    const foreign = files.filter(
      (f) =>
        !f.startsWith('dist/') &&
        !['README.md', 'LICENSE', 'package.json', 'clients/python/aso_client.py'].includes(f),
    )
    expect(foreign).toEqual([])
    expect(files.filter((f) => /fts3-sim|(^|\/)test\/|(^|\/)bench\/|\.test\./.test(f))).toEqual([])
  })
})
