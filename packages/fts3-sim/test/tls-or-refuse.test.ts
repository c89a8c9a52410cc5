/**
 * A double asked for TLS serves TLS or refuses to start: never plain HTTP with every caller anonymous (what
 * happened when the product CLI's own --cert/--key swallowed the flags). Driven through the installed bin, as
 * a user runs it, and through the command's function for the refusals.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { simClient } from '../../../test/support/fts3.js'
import { makeTestPki, type TestPki, type UserCert } from '../../../test/support/pki.js'
import { runFts3SimCli } from '../src/cli.js'

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = path.join(repoRoot, 'node_modules', '.bin', 'aso-fts3-sim')

let dir: string
let pki: TestPki
let alice: UserCert
const children: ChildProcess[] = []

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-tls-'))
  pki = await makeTestPki(path.join(dir, 'pki'))
  alice = await pki.userCert('alice')
})

afterAll(async () => {
  for (const c of children) c.kill('SIGTERM')
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Starts the bin and resolves with the URL it prints, or rejects with what it said when it exits first. */
function startBin(args: string[]): Promise<string> {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  children.push(child)
  let said = ''
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      said += chunk.toString()
      const url = /listening on (\S+)/.exec(said)?.[1]
      if (url) resolve(url)
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => reject(new Error(`aso-fts3-sim exited ${code}: ${said}`)))
  })
}

/** What a plain-HTTP client gets from `url`: a status, or the connection error. */
function plainAttempt(url: string): Promise<{ status?: number; error?: string }> {
  const target = new URL('/whoami', url.replace(/^https:/, 'http:'))
  return new Promise((resolve) => {
    const req = http.get(target, { agent: false, timeout: 10_000 }, (res) => {
      res.resume()
      resolve({ status: res.statusCode })
    })
    req.on('error', (err) => resolve({ error: err.message }))
    req.on('timeout', () => req.destroy(new Error('timed out')))
  })
}

describe('aso-fts3-sim with TLS options', () => {
  it('is installed as a bin at the root and says how to use it', async () => {
    expect(existsSync(BIN), `${BIN} missing: run npm install (or npm run build) at the repository root`).toBe(
      true,
    )
    const help = spawn(BIN, ['--help'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    help.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    const code = await new Promise((resolve) => help.once('exit', resolve))
    expect(code).toBe(0)
    expect(out).toMatch(/^usage: aso-fts3-sim --listen HOST:PORT/)
  })

  it('serves HTTPS to a verified client and never answers plain HTTP', async () => {
    const url = await startBin([
      '--listen',
      '127.0.0.1:0',
      '--cert',
      pki.host.certPath,
      '--key',
      pki.host.keyPath,
      '--ca-dir',
      pki.caDir,
    ])
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const me = await simClient(url, {
      ca: pki.ca.certPem,
      credential: { certPem: alice.certPem, keyPem: alice.keyPem },
    }).get('/whoami')
    expect(me.status).toBe(200)
    expect(me.json).toMatchObject({ user_dn: alice.dn, method: 'certificate' })
    const plain = await plainAttempt(url)
    expect(plain.status, 'a plain-HTTP request got an HTTP answer from a server started with TLS').toBe(
      undefined,
    )
    expect(plain.error).toBeDefined()
  })

  it('refuses to start when TLS cannot be served as asked', async () => {
    const err: string[] = []
    const io = { out: () => {}, err: (l: string) => err.push(l) }
    const tlsArgs = ['--cert', pki.host.certPath, '--key', pki.host.keyPath, '--ca-dir', pki.caDir]
    expect(await runFts3SimCli(['--listen', '127.0.0.1:0', '--insecure-dn', '/CN=x', ...tlsArgs], io)).toBe(3)
    expect(err.join('\n')).toMatch(/--insecure-dn serves plain HTTP: it cannot go with --cert\/--key/)
    err.length = 0
    const missing = path.join(dir, 'no-such-host.pem')
    const args = [
      '--listen',
      '127.0.0.1:0',
      '--cert',
      missing,
      '--key',
      pki.host.keyPath,
      '--ca-dir',
      pki.caDir,
    ]
    expect(await runFts3SimCli(args, io)).toBe(3)
    expect(err.join('\n')).toMatch(/cannot start/)
    expect(err.join('\n')).toContain('no-such-host.pem')
  })
})
