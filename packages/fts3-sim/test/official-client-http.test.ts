/**
 * CERN's official FTS client, unmodified, against the double over plain HTTP (`insecureDn`): its `easy`
 * API end to end, with real copies between paths of a real XRootD site (docs/fts3-rest.md §1, §2).
 * Run inside a network namespace (scripts/test.sh).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startInsecureSim } from '../../../test/support/fts3.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../../../test/support/xrootd.js'
import type { Fts3Sim } from '../src/server.js'
import { easy, ftsClientMissing } from './support/fts-client.js'
import { storedFile } from './support/stored-file.js'

const missing = ftsClientMissing()
if (missing) console.warn(`the official FTS client over plain HTTP: skipped: ${missing}`)
const ALICE = '/DC=ch/DC=cern/OU=Users/CN=alice'
type Obj = Record<string, unknown>

let base: string
let site: XrootdSite
/** copies files */
let sim: Fts3Sim
/** runs nothing: jobs stay queued */
let queue: Fts3Sim

/** A file on the site and a free destination path beside it. */
const stored = (bytes = 32 * 1024) => storedFile(site, 'http', bytes)

describe.skipIf(missing)(
  `the official FTS client over plain HTTP${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    beforeAll(async () => {
      requireXrootd()
      base = await mkdtemp(path.join(os.tmpdir(), 'aso-fts-client-http-'))
      ;[site, { sim }, { sim: queue }] = await Promise.all([
        startXrootdSite({ name: 'A', baseDir: base }),
        startInsecureSim(ALICE, {
          vo: 'cms',
          schedulerIntervalMs: 50,
          env: { XRD_CONNECTIONRETRY: '1', XRD_REQUESTTIMEOUT: '30' },
        }),
        startInsecureSim(ALICE, { vo: 'cms', maxActive: 0 }),
      ])
    }, 60_000)

    afterAll(async () => {
      await Promise.all([sim?.close(), queue?.close()])
      await site?.stop()
      if (base) await rm(base, { recursive: true, force: true })
    })

    it('whoami, new_transfer + new_job + submit: a real copy, then get_job_status (with files and dm) and get_jobs_statuses', async () => {
      const f = await stored()
      const [who, jobId, state, status, statuses, spacetoken, oldField] = (await easy(
        sim.url,
        `
out(easy.whoami(ctx))
t = easy.new_transfer(${JSON.stringify(f.source)}, ${JSON.stringify(f.destination)}, metadata={"oracleId": "o1"}, activity="ASO")
job = easy.new_job([t], verify_checksum="both", overwrite=True, retry=2, metadata={"issuer": "ASO"},
                   destination_spacetoken="DST_TOKEN", source_spacetoken="SRC_TOKEN")
jid = easy.submit(ctx, job)
out(jid)
out(wait_job(ctx, jid))
out(easy.get_job_status(ctx, jid, list_files=True))
out(easy.get_jobs_statuses(ctx, [jid], list_files=True))
out(json.loads(ctx.get("/jobs/%s/destination_spacetoken" % jid)))
out(raised(ctx.get, "/jobs/%s/space_token" % jid))
`,
      )) as [Obj, string, string, Obj, Obj, string, string[]]
      expect(who).toMatchObject({ user_dn: ALICE, vos: ['cms'], method: 'certificate' })
      expect(state).toBe('FINISHED')
      expect(await readFile(f.destinationPath)).toEqual(f.data)
      expect(status).toMatchObject({
        job_id: jobId,
        job_state: 'FINISHED',
        destination_spacetoken: 'DST_TOKEN',
        source_spacetoken: 'SRC_TOKEN',
        os_project_id: null,
        overwrite_flag: 'Y',
        verify_checksum: 'b',
        retry: 2,
        job_metadata: { issuer: 'ASO', auth_method: 'certificate' },
        dm: [],
      })
      expect(status).not.toHaveProperty('space_token')
      expect(status).not.toHaveProperty('source_space_token')
      const [file] = status.files as Obj[]
      expect(file).toMatchObject({
        file_state: 'FINISHED',
        source_surl: f.source,
        dest_surl: f.destination,
        filesize: f.data.length,
        activity: 'ASO',
        file_metadata: { oracleId: 'o1' },
        staging_metadata: null,
        archive_metadata: null,
      })
      // one id: the job itself, not a list
      expect(statuses).toMatchObject({ job_id: jobId, job_state: 'FINISHED', http_status: '200 Ok' })
      expect(statuses.files).toEqual([
        {
          file_state: 'FINISHED',
          dest_surl: f.destination,
          finish_time: file!.finish_time,
          start_time: file!.start_time,
          reason: '',
          source_surl: f.source,
          file_metadata: { oracleId: 'o1' },
        },
      ])
      expect(spacetoken).toBe('DST_TOKEN')
      expect(oldField[0]).toBe('NotFound')
    })

    it('a second source (a replica): the missing first one fails, the next one is copied; new_delete_job is refused', async () => {
      const f = await stored()
      const [pushBack, state, status, deletion] = (await easy(
        sim.url,
        `
t = easy.new_transfer(${JSON.stringify(`${site.url}//store/temp/user/alice/missing.root`)}, ${JSON.stringify(f.destination)})
# the client's own add_alternative_source cannot work (it calls list.push_back): the replica is added by hand
out(raised(easy.add_alternative_source, t, ${JSON.stringify(f.source)}))
t["sources"].append(${JSON.stringify(f.source)})
jid = easy.submit(ctx, easy.new_job([t], selection_strategy="orderly"))
out(wait_job(ctx, jid))
out(easy.get_job_status(ctx, jid, list_files=True))
out(raised(easy.submit, ctx, easy.new_delete_job(["root://a.example//store/f"])))
`,
      )) as [string[], string, Obj, string[]]
      expect(pushBack).toEqual(['AttributeError', "'list' object has no attribute 'push_back'"])
      expect(state).toBe('FINISHED')
      expect(status.job_type).toBe('R')
      expect((status.files as Obj[]).map((f) => [f.file_state, f.reason])).toEqual([
        ['FAILED', 'SOURCE [2] Failed to stat the source file: No such file or directory'],
        ['FINISHED', ''],
      ])
      expect(await readFile(f.destinationPath)).toEqual(f.data)
      expect(deletion).toEqual(['ClientError', 'Client error: 405'])
    })

    it('new_staging_job: a stage-in-only file (source = destination) is FINISHED once staged, with its staging_metadata; a staged transfer is copied', async () => {
      const f = await stored(1024)
      const g = await stored(1024)
      const [jobId, status, copied] = (await easy(
        sim.url,
        `
sj = easy.new_staging_job([{"surl": ${JSON.stringify(f.source)}, "metadata": {"oracleId": "s1"},
                            "staging_metadata": {"pin": "disk"}}], bring_online=120, copy_pin_lifetime=600)
jid = easy.submit(ctx, sj)
out(jid)
wait_job(ctx, jid)
out(easy.get_job_status(ctx, jid, list_files=True))
# staged, then copied: the source read with its activity in the query
t = easy.new_transfer(${JSON.stringify(g.source)}, ${JSON.stringify(g.destination)})
out(wait_job(ctx, easy.submit(ctx, easy.new_job([t], bring_online=120))))
`,
      )) as [string, Obj, string]
      expect(copied).toBe('FINISHED')
      expect(await readFile(g.destinationPath)).toEqual(g.data)
      expect(status).toMatchObject({
        job_state: 'FINISHED',
        bring_online: 120,
        copy_pin_lifetime: 600,
        reason: '',
      })
      const [file] = status.files as Obj[]
      // root:// staging URLs carry the activity (for EOS-CTA); source and destination stay equal
      expect(file).toMatchObject({
        file_state: 'FINISHED',
        source_surl: `${f.source}?activity=default`,
        dest_surl: `${f.source}?activity=default`,
        staging_metadata: { pin: 'disk' },
        file_metadata: { oracleId: 's1' },
      })
      expect(file!.staging_start).not.toBeNull()
      expect(file!.staging_finished).not.toBeNull()
      expect(sim.jobs().find((j) => j.jobId === jobId)!.files[0]!.attempts).toEqual([])
    })

    it('overwrite_flag is the stored letter or null; bad staging / archive metadata is a 400 with its message', async () => {
      const [r, none, notJson, tooBig] = (await easy(
        queue.url,
        `
t = lambda: easy.new_transfer("root://a.example//store/f", "root://b.example//store/g")
r = easy.submit(ctx, easy.new_job([t()], overwrite_on_retry=True))
n = easy.submit(ctx, easy.new_job([t()]))
out(json.loads(ctx.get("/jobs/%s/overwrite_flag" % r)))
out(json.loads(ctx.get("/jobs/%s/overwrite_flag" % n)))
bad = easy.new_transfer("root://a.example//store/f", "root://b.example//store/g", staging_metadata="pin=disk")
out(raised(easy.submit, ctx, easy.new_job([bad])))
big = easy.new_transfer("root://a.example//store/f", "root://b.example//store/g", archive_metadata={"x": "a" * 1100})
out(raised(easy.submit, ctx, easy.new_job([big])))
`,
      )) as [string, null, string[], string[]]
      expect(r).toBe('R')
      expect(none).toBeNull()
      expect(notJson).toEqual([
        'ClientError',
        'Client error: Bad request: Invalid value within the request: Staging metadata not in JSON format',
      ])
      expect(tooBig).toEqual([
        'ClientError',
        'Client error: Bad request: Archive metadata exceeds size limit (1109 > 1024)',
      ])
    })

    it('list_jobs, cancel (a whole job twice, then files), unknown ids; cancel_all, ban_se and /status/hosts need root', async () => {
      const [listed, submitted, canceled, again, files, unknown, bulk, all, ban, hosts] = (await easy(
        queue.url,
        `
t = lambda n: easy.new_transfer("root://a.example//store/f%d" % n, "root://b.example//store/g%d" % n)
one = easy.submit(ctx, easy.new_job([t(1)]))
two = easy.submit(ctx, easy.new_job([t(2), t(3)]))
mine = lambda jobs: sorted(j["job_id"] for j in jobs if j["job_id"] in (one, two))
out([sorted([one, two]), mine(easy.list_jobs(ctx))])
out(mine(easy.list_jobs(ctx, vo="cms", state_in=["SUBMITTED"])))
out(easy.cancel(ctx, one))
out(easy.cancel(ctx, one))
fid = easy.get_job_status(ctx, two, list_files=True)["files"][0]["file_id"]
out([easy.cancel(ctx, two, file_ids=[fid]), easy.get_job_status(ctx, two)["job_state"]])
out(raised(easy.get_job_status, ctx, "00000000-0000-0000-0000-000000000000"))
out(raised(easy.get_jobs_statuses, ctx, [two, "nope"]))
out([raised(easy.cancel_all, ctx), raised(easy.cancel_all, ctx, "cms")])
out(raised(easy.ban_se, ctx, "root://a.example"))
out(raised(ctx.get, "/status/hosts"))
`,
      )) as [
        string[],
        string[],
        Obj,
        Obj,
        [string, string],
        string[],
        string[],
        string[][],
        string[],
        string[],
      ]
      // jobs of other tests are listed too: these two are there
      expect(listed[1]).toEqual(listed[0])
      expect(submitted).toEqual(listed[0])
      expect(canceled).toMatchObject({
        job_state: 'CANCELED',
        reason: 'Job canceled by the user',
        http_status: '200 Ok',
      })
      expect(again).toMatchObject({ job_state: 'CANCELED', http_status: '304 Not Modified' })
      expect(files).toEqual(['CANCELED', 'SUBMITTED'])
      expect(unknown).toEqual(['NotFound', 'Not found: 00000000-0000-0000-0000-000000000000'])
      // a 207: the client's error carries the body (its join trips on the found job's entry)
      expect(bulk[0]).toBe('ClientError')
      expect(bulk[1]).toContain('No job with the id \\"nope\\" has been found')
      expect(all).toEqual([
        ['Unauthorized', 'Unauthorized: User does not have root privileges'],
        ['Unauthorized', 'Unauthorized: User does not have root privileges'],
      ])
      expect(ban).toEqual(['Unauthorized', 'Unauthorized: Not enough permissions'])
      expect(hosts).toEqual(['Unauthorized', 'Unauthorized: Not enough permissions'])
    })
  },
)
