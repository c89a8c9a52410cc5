/**
 * The official FTS client's `fts-rest-*` scripts, unmodified, against the double over plain HTTP
 * (`insecureDn`) and over HTTPS with the test CA and an RFC 3820 proxy (the host certificate for the root
 * commands). The scripts import `fts3.cli`: where the client checkout has no `src/fts3/cli`, they cannot
 * start, and this file is skipped with that reason. Run inside a network namespace.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInsecureSim, startTlsSim, type TlsSim, waitForJob } from '../../../test/support/fts3.js'
import { makeTestPki, type ProxyCert, type TestPki } from '../../../test/support/pki.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../../../test/support/xrootd.js'
import type { Fts3Sim } from '../src/server.js'
import { ftsScriptsMissing, script } from './support/fts-client.js'
import { storedFile } from './support/stored-file.js'

const missing = ftsScriptsMissing()
if (missing) console.warn(`the official fts-rest-* scripts: skipped: ${missing}`)
const ALICE = '/DC=ch/DC=cern/OU=Users/CN=alice'
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/

let dir: string
let pki: TestPki
let proxy: ProxyCert
let site: XrootdSite
let plain: Fts3Sim
let tls: TlsSim

const stored = () => storedFile(site, 'script', 8 * 1024)

describe.skipIf(missing)(`the official fts-rest-* scripts${missing ? ` (skipped: ${missing})` : ''}`, () => {
  beforeAll(async () => {
    requireXrootd()
    dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts-scripts-'))
    ;[pki, site] = await Promise.all([
      makeTestPki(path.join(dir, 'pki')),
      startXrootdSite({ name: 'A', baseDir: dir }),
    ])
    proxy = await pki.proxy(await pki.userCert('alice'))
    const opts = { vo: 'cms', schedulerIntervalMs: 50, env: { XRD_CONNECTIONRETRY: '1' } }
    ;[{ sim: plain }, tls] = await Promise.all([startInsecureSim(ALICE, opts), startTlsSim(pki, opts)])
  }, 60_000)

  afterAll(async () => {
    await Promise.all([plain?.close(), tls?.sim.close()])
    await site?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  /** `-s URL` and the proxy (over plain HTTP the double ignores it: every request is ALICE) */
  const userArgs = (url: string): string[] => [
    '-s',
    url,
    '--cert',
    proxy.path,
    '--key',
    proxy.path,
    '--capath',
    pki.caDir,
  ]
  const rootArgs = (): string[] => [
    '-s',
    tls.sim.url,
    '--cert',
    pki.host.certPath,
    '--key',
    pki.host.keyPath,
    '--capath',
    pki.caDir,
  ]

  for (const [name, sim] of [
    ['plain HTTP', () => plain],
    ['HTTPS', () => tls.sim],
  ] as const) {
    it(`${name}: whoami, delegate, transfer-submit (a real copy), -status, -list, -cancel (a finished job)`, async () => {
      const url = sim().url
      const who = await script('whoami', [...userArgs(url), '-j'])
      expect(who.code, who.stderr).toBe(0)
      expect(JSON.parse(who.stdout)).toMatchObject({ method: 'certificate', vos: ['cms'] })
      const dlg = await script('delegate', [...userArgs(url), '-f'])
      expect(dlg.code, dlg.stderr).toBe(0)

      const f = await stored()
      const sub = await script('transfer-submit', [...userArgs(url), f.source, f.destination])
      expect(sub.code, sub.stderr).toBe(0)
      const jobId = UUID.exec(sub.stdout)?.[0]
      expect(jobId, sub.stdout).toBeDefined()
      await waitForJob(sim(), jobId!, (j) => j.jobState === 'FINISHED')
      expect(await readFile(f.destinationPath)).toEqual(f.data)
      const status = await script('transfer-status', [...userArgs(url), jobId!])
      expect(status.code, status.stderr).toBe(0)
      expect(status.stdout).toContain('FINISHED')

      const list = await script('transfer-list', userArgs(url))
      expect(list.code, list.stderr).toBe(0)
      // a finished job: the server answers 200 with the job unchanged (inner 304)
      const cancel = await script('transfer-cancel', [...userArgs(url), jobId!])
      expect(cancel.code, cancel.stderr).toBe(0)
      expect(
        sim()
          .jobs()
          .find((j) => j.jobId === jobId)?.jobState,
      ).toBe('FINISHED')
    })
  }

  it('HTTPS as root: fts-rest-ban bans and unbans a storage, fts-rest-server-status reads /status/hosts', async () => {
    const ban = await script('ban', [...rootArgs(), '--storage', 'root://banned.example'])
    expect(ban.code, ban.stderr).toBe(0)
    const unban = await script('ban', [...rootArgs(), '--storage', 'root://banned.example', '--unban'])
    expect(unban.code, unban.stderr).toBe(0)
    const status = await script('server-status', rootArgs())
    expect(status.code, status.stderr).toBe(0)
  })
})
