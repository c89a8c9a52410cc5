/**
 * An operator sees FTS3 delegations happen: one info line per delegation made, with the user, the server and
 * the new expiry (issue: monitoring, item 4). Against the FTS3 double over HTTPS with the test PKI.
 */
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { batchSid, transferId } from '../../src/domain/ids.js'
import { Fts3Engine } from '../../src/engines/fts3/engine.js'
import { startTlsSim, type TlsSim } from '../support/fts3.js'
import { MockStorage } from '../support/mock-storage.js'
import { makeTestPki, type TestPki } from '../support/pki.js'

const HOUR = 3600_000

let dir: string
let pki: TestPki
let sim: TlsSim
const mock = new MockStorage()

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-monitoring-dlg-'))
  pki = await makeTestPki(path.join(dir, 'pki'))
  const alice = await pki.userCert('alice')
  await mkdir(path.join(dir, 'proxies'))
  await copyFile((await pki.proxy(alice)).path, path.join(dir, 'proxies', 'alice.pem'))
  sim = await startTlsSim(pki, { methods: [mock.method], storage: mock.registry(), schedulerIntervalMs: 20 })
})

afterAll(async () => {
  await sim?.sim.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('FTS3 delegation log', () => {
  it('logs one info line per delegation made (user, server, new expiry), none while the server holds one', async () => {
    const lines: { obj: Record<string, unknown>; msg: string }[] = []
    const engine = new Fts3Engine({
      servers: [{ url: sim.sim.url, links: ['*->*'] }],
      instance: 'mon',
      proxyPath: path.join(dir, 'proxies', '{user}.pem'),
      caDir: pki.caDir,
      maxFilesPerJob: 100,
      maxTimeInQueueMs: 4 * HOUR,
      overwrite: false,
      verifyChecksum: 'both',
      delegation: { lifetimeMs: 48 * HOUR, renewBelowMs: 24 * HOUR },
      minProxyLifetimeMs: 2 * HOUR,
      timeoutMs: 5000,
      log: {
        info: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
        warn: (obj, msg) => lines.push({ obj: obj as Record<string, unknown>, msg }),
      },
    })
    try {
      for (const k of [1, 2]) {
        const lfn = `/store/user/alice/d${k}.root`
        const file = {
          transferId: transferId('B', lfn),
          attempt: 1,
          submission: 1,
          task: 'task-alice',
          sources: [{ scheme: 'mock', url: `mock://a.example/store/temp/user/alice.x/d${k}.root` }],
          destinations: [{ scheme: 'mock', url: `mock://b.example${lfn}` }],
          size: 1000 + k,
          adler32: (0x10000000 + k).toString(16),
          activity: 'ASO',
          priority: 3,
          ownsDestination: false,
        }
        mock.put(file.sources[0]!.url, file.size, file.adler32)
        const ctx = { user: 'alice', group: null, role: null, source: 'A', destination: 'B' }
        const sid = batchSid([{ id: file.transferId, attempt: 1, submissions: 1 }])
        const id = (await engine.jobIdFactory(ctx))(sid)
        await engine.submit({ id, ...ctx, files: [file], priority: 3, overwrite: false, maxActive: 100 })
      }
      const made = lines.filter((l) => l.msg === 'FTS3 delegation made')
      // the second submission found the delegation fresh: no second line
      expect(made).toHaveLength(1)
      const line = made[0]!.obj
      expect(line).toMatchObject({ user: 'alice', server: sim.sim.url, forced: false, previousExpiry: null })
      expect(typeof line.dn).toBe('string')
      // the new expiry: the asked lifetime cut to the proxy's own end (ISO 8601)
      const expires = Date.parse(String(line.expires))
      expect(expires).toBeGreaterThan(Date.now())
      expect(expires).toBeLessThanOrEqual(Date.now() + 48 * HOUR)
      expect(engine.delegator.made).toHaveLength(1)
    } finally {
      await engine.close()
    }
  })
})
