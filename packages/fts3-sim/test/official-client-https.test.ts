/**
 * CERN's official FTS client, unmodified, against the double over HTTPS with the test CA: a user's RFC 3820
 * proxy (whoami, delegation signed by M2Crypto, a real copy on an XRootD site) and the host certificate as
 * root (bans, cancel_all, /status/hosts) (docs/fts3-rest.md §1, §4). Run inside a network namespace.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTlsSim, type TlsSim, waitForJob } from '../../../test/support/fts3.js'
import { makeTestPki, type ProxyCert, type TestPki, type UserCert } from '../../../test/support/pki.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../../../test/support/xrootd.js'
import { type ClientAuth, easy, ftsClientMissing } from './support/fts-client.js'
import { storedFile } from './support/stored-file.js'

const missing = ftsClientMissing()
if (missing) console.warn(`the official FTS client over HTTPS: skipped: ${missing}`)
type Obj = Record<string, unknown>

let dir: string
let pki: TestPki
let alice: UserCert
let aliceProxy: ProxyCert
let bob: UserCert
let site: XrootdSite
let tls: TlsSim

const py = (s: string): string => JSON.stringify(s)
const asAlice = (): ClientAuth => ({ cert: aliceProxy.path, key: aliceProxy.path, caDir: pki.caDir })
const asRoot = (): ClientAuth => ({ cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir })
/** Python: a context for another identity beside `ctx` */
const context = (cert: string, key: string): string =>
  `easy.Context(sys.argv[1], ucert=${py(cert)}, ukey=${py(key)}, capath=${py(pki.caDir)})`

const stored = () => storedFile(site, 'https', 16 * 1024)

describe.skipIf(missing)(
  `the official FTS client over HTTPS${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    beforeAll(async () => {
      requireXrootd()
      dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts-client-https-'))
      ;[pki, site] = await Promise.all([
        makeTestPki(path.join(dir, 'pki')),
        startXrootdSite({ name: 'A', baseDir: dir }),
      ])
      ;[alice, bob] = await Promise.all([pki.userCert('alice'), pki.userCert('bob')])
      aliceProxy = await pki.proxy(alice)
      tls = await startTlsSim(pki, {
        vo: 'cms',
        schedulerIntervalMs: 50,
        env: { XRD_CONNECTIONRETRY: '1', XRD_REQUESTTIMEOUT: '30' },
      })
    }, 60_000)

    afterAll(async () => {
      await tls?.sim.close()
      await site?.stop()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('a proxy: whoami, delegate (the client signs the CSR with M2Crypto), a real copy, its status', async () => {
      const f = await stored()
      const [who, dlg, jobId, status] = (await easy(
        tls.sim.url,
        `
out(easy.whoami(ctx))
out(easy.delegate(ctx, lifetime=timedelta(hours=12), force=True))
t = easy.new_transfer(${py(f.source)}, ${py(f.destination)}, checksum="adler32")
jid = easy.submit(ctx, easy.new_job([t], verify_checksum=True, metadata={"issuer": "ASO"}))
out(jid)
wait_job(ctx, jid)
out(easy.get_job_status(ctx, jid, list_files=True))
`,
        asAlice(),
      )) as [Obj, string, string, Obj]
      expect(who).toMatchObject({
        user_dn: alice.dn,
        dn: [alice.dn, aliceProxy.dn],
        method: 'certificate',
        is_root: false,
      })
      expect(dlg).toBe(who.delegation_id)
      const stored_ = tls.sim.delegations().find((d) => d.delegationId === dlg)
      expect(stored_?.dn).toBe(alice.dn)
      expect(stored_?.proxyPem).toContain('BEGIN CERTIFICATE')
      expect(status.job_id).toBe(jobId)
      expect(await readFile(f.destinationPath)).toEqual(f.data)
      expect(status).toMatchObject({
        job_state: 'FINISHED',
        cred_id: dlg,
        user_dn: alice.dn,
        overwrite_flag: null,
        dm: [],
      })
      expect((status.files as Obj[])[0]).toMatchObject({ file_state: 'FINISHED', filesize: f.data.length })
    })

    it('root (the host certificate): a WAIT ban holds a submission until unban_se; CANCEL refuses; ban_dn locks a user out', async () => {
      const f = await stored()
      const se = `root://${new URL(site.url).hostname}`
      const [banned, jobId, held, list, blocked, dnBan, bobOut, bobBack, self] = (await easy(
        tls.sim.url,
        `
alice = ${context(aliceProxy.path, aliceProxy.path)}
bob = ${context(bob.certPath, bob.keyPath)}
out(easy.ban_se(ctx, ${py(se)}, status="wait", allow_submit=True))
jid = easy.submit(alice, easy.new_job([easy.new_transfer(${py(f.source)}, ${py(f.destination)})]))
out(jid)
st = easy.get_job_status(alice, jid, list_files=True)
out([st["job_state"], st["files"][0]["file_state"]])
out([[b["se"], b["status"], b["vo"]] for b in json.loads(ctx.get("/ban/se"))])
easy.unban_se(ctx, ${py(se)})
easy.ban_se(ctx, "root://blocked.example")
out(raised(easy.submit, alice, easy.new_job([easy.new_transfer("root://blocked.example//store/f", ${py(f.destination)})])))
out(easy.ban_dn(ctx, ${py(bob.dn)}))
out(raised(easy.whoami, bob))
easy.unban_dn(ctx, ${py(bob.dn)})
out(easy.whoami(bob)["user_dn"])
out(raised(easy.ban_dn, ctx, ${py(pki.host.dn)}))
`,
        asRoot(),
      )) as [string[], string, string[], string[][], string[], string[], string[], string, string[]]
      expect(banned).toEqual([])
      expect(held).toEqual(['SUBMITTED', 'ON_HOLD'])
      expect(list).toEqual([[se, 'WAIT_AS', 'cms']])
      // unbanned: the held file was queued again and copied
      await waitForJob(tls.sim, jobId, (j) => j.jobState === 'FINISHED')
      expect(await readFile(f.destinationPath)).toEqual(f.data)
      expect(blocked).toEqual(['Unauthorized', 'Unauthorized: root://blocked.example is banned'])
      expect(dnBan).toEqual([])
      expect(bobOut[0]).toBe('Unauthorized')
      expect(bobOut[1]).toContain('The user has been banned')
      expect(bobBack).toBe(bob.dn)
      expect(self).toEqual(['ClientError', 'Client error: 409'])
    })

    it('root: cancel_all (of a VO) cancels its unfinished jobs; /status/hosts answers per host', async () => {
      const [ban, jobId, all, state, hosts] = (await easy(
        tls.sim.url,
        `
alice = ${context(aliceProxy.path, aliceProxy.path)}
out(easy.ban_se(ctx, "root://held.example", status="wait", allow_submit=True))
jid = easy.submit(alice, easy.new_job([easy.new_transfer("root://held.example//store/f", "root://b.example//store/g")]))
out(jid)
out(easy.cancel_all(ctx, "cms"))
out(easy.get_job_status(alice, jid)["job_state"])
out(json.loads(ctx.get("/status/hosts")))
`,
        asRoot(),
      )) as [string[], string, Obj, string, Obj]
      expect(ban).toEqual([])
      expect(jobId).toMatch(/^[0-9a-f-]{36}$/)
      expect(all).toMatchObject({ affected_dm: 0 })
      expect(all.affected_jobs).toBeGreaterThanOrEqual(1)
      expect(state).toBe('CANCELED')
      expect(hosts).toEqual({})
    })
  },
)
