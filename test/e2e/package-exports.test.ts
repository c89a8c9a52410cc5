/**
 * The package's public subpaths (package.json `exports`): what outside code such as the FTS3 double may use,
 * and nothing else. Runs on the built `dist/`, through Node's own resolution of the package by its name.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const run = promisify(execFile)

/** Imports `specifier` by the package's name from a module inside the package; its export names, or the error code. */
async function load(specifier: string): Promise<string[] | string> {
  const script = `try { console.log(JSON.stringify(Object.keys(await import(${JSON.stringify(specifier)})))) }
    catch (e) { console.log(JSON.stringify(e.code ?? String(e))) }`
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
  return JSON.parse(stdout) as string[] | string
}

describe('package exports', () => {
  it('expose storage, credentials, the contract and the domain helpers, each with its types', async () => {
    const storage = await load('aso/storage')
    expect(storage).toEqual(
      expect.arrayContaining([
        'StorageRegistry',
        'StorageError',
        'chooseMethods',
        'verifyDestination',
        'xrootMethods',
      ]),
    )
    expect(await load('aso/credentials')).toEqual(
      expect.arrayContaining(['parseCert', 'verifyPeer', 'loadTrustStore', 'signProxyFromCsr']),
    )
    expect(await load('aso/contract')).toEqual(
      expect.arrayContaining(['injectBodySchema', 'errorBodySchema']),
    )
    expect(await load('aso/domain/failures')).toEqual(expect.arrayContaining(['classify']))
    for (const d of ['storage/index', 'credentials/index', 'contract/index', 'domain/failures']) {
      expect(existsSync(path.join(root, 'dist', `${d}.d.ts`)), `${d}.d.ts`).toBe(true)
    }
  })

  it('refuse deep paths into the product', async () => {
    expect(await load('aso/dist/engines/local/engine.js')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
    expect(await load('aso/agent/runner')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
    expect(await load('aso/storage/registry')).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED')
  })
})
