/**
 * The FTS3 double answers like fts-rest-flask 3.13 (docs/fts3-rest.md §0-§3, §7): submission rules and
 * their 400s, echoes, ids, status and cancel answers in both error shapes, routing 405s, faults.
 * Insecure mode (one DN with a valid delegation), no storage: files stay queued (maxActive 0).
 */
import { createHash } from 'node:crypto'
import { uuid5 } from 'aso/domain/ids'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SimClient, simClient, startInsecureSim, waitForJob } from '../../../test/support/fts3.js'
import type { Fts3Sim } from '../src/server.js'

const ALICE = '/DC=ch/DC=cern/OU=Users/CN=alice'
const SRC = 'root://src.example:1094//store/temp/user/alice.1/f'
const DST = 'root://dst.example:1095//store/user/alice/f'

let sim: Fts3Sim
let client: SimClient

beforeAll(async () => {
  ;({ sim, client } = await startInsecureSim(ALICE, { maxActive: 0 }))
})
afterAll(async () => {
  await sim?.close()
})

type Obj = Record<string, unknown>
const file = (extra: Obj = {}, n = 0): Obj => ({
  sources: [`${SRC}${n}`],
  destinations: [`${DST}${n}`],
  ...extra,
})
const submit = (body: unknown, opts: { contentType?: string | null; method?: string } = {}) =>
  client.request(opts.method ?? 'POST', '/jobs', { body, contentType: opts.contentType })
async function submitted(params: Obj = {}, files: Obj[] = [file()]): Promise<string> {
  const r = await submit({ files, params })
  expect(r.status, r.text).toBe(200)
  return (r.json as { job_id: string }).job_id
}
const job = async (id: string): Promise<Obj> => (await client.get(`/jobs/${id}`)).json as Obj
const message = (r: { json: unknown }): unknown => (r.json as Obj).message

describe('identity', () => {
  it('GET / names the API version, GET /whoami the delegation id, VO and VO id', async () => {
    const root = await client.get('/')
    expect(root.status).toBe(200)
    expect((root.json as Obj).api).toEqual({ major: 3, minor: 13, patch: 4 })
    const who = (await client.get('/whoami')).json as Obj
    const dlg = createHash('sha1').update(ALICE).digest('hex').slice(0, 16)
    expect(who).toMatchObject({ user_dn: ALICE, delegation_id: dlg, method: 'certificate', voms_cred: [] })
    // without VOMS the VO is the "virtual VO": the delegation id itself
    expect(who.vos).toEqual([dlg])
    expect(who.vos_id).toEqual([uuid5(who.base_id as string, dlg)])
  })
})

describe('the HTTP layer', () => {
  it('serves `//x` as `/x`, as the real server does (the official client sends `//whoami`, `//jobs`)', async () => {
    const plain = await client.get('/whoami')
    const doubled = await client.get('//whoami')
    expect([doubled.status, doubled.json]).toEqual([200, plain.json])
    const id = await submitted()
    expect((await client.get(`//jobs/${id}`)).json).toMatchObject({ job_id: id })
  })

  it("answers GET /jobs/{id}/dm with the job's data-management operations (none), 404 for an unknown job", async () => {
    const id = await submitted()
    expect(await client.get(`/jobs/${id}/dm`)).toMatchObject({ status: 200, json: [] })
    const unknown = await client.get('/jobs/00000000-0000-0000-0000-000000000000/dm')
    expect(unknown.status).toBe(404)
  })

  it('names standard statuses on the status line as usual; only werkzeug-unknown codes read UNKNOWN', async () => {
    const ok = await client.get('/whoami')
    expect([ok.status, ok.statusMessage]).toEqual([200, 'OK'])
    const missing = await client.get('/jobs/00000000-0000-0000-0000-000000000000')
    expect([missing.status, missing.statusMessage]).toEqual([404, 'Not Found'])
  })
})

describe('VOMS', () => {
  it('FQANs change the delegation id, the VO and so the deterministic ids', async () => {
    const fqans = ['/cms/Role=NULL/Capability=NULL', '/cms/Role=production/Capability=NULL']
    const s = await startInsecureSim(ALICE, { maxActive: 0, vomsByDn: { [ALICE]: fqans } })
    try {
      const c = simClient(s.sim.url)
      const who = (await c.get('/whoami')).json as Obj
      const dlg = createHash('sha1')
        .update(ALICE + fqans.join(''))
        .digest('hex')
        .slice(0, 16)
      expect(who).toMatchObject({ delegation_id: dlg, vos: ['cms'], voms_cred: fqans, roles: ['production'] })
      expect(who.vos_id).toEqual([uuid5(who.base_id as string, 'cms')])
      const r = await c.request('POST', '/jobs', {
        body: { files: [file()], params: { id_generator: 'deterministic', sid: 'voms' } },
      })
      expect((r.json as Obj).job_id).toBe(uuid5((who.vos_id as string[])[0]!, 'voms'))
      expect((await c.get(`/delegation/${dlg}`)).json).toMatchObject({ voms_attrs: [fqans.join(' ')] })
    } finally {
      await s.sim.close()
    }
  })
})

describe('submission: content type and body', () => {
  it('text/plain is 400 "Expecting application/json or application/x-www-form-urlencoded"', async () => {
    const r = await submit('{"files":[]}', { contentType: 'text/plain' })
    expect([r.status, message(r)]).toEqual([
      400,
      'Expecting application/json or application/x-www-form-urlencoded',
    ])
  })

  it('JSON sent as form data is 400 "No transfers operations specified"', async () => {
    const r = await submit(JSON.stringify({ files: [file()] }), {
      contentType: 'application/x-www-form-urlencoded',
    })
    expect([r.status, message(r)]).toEqual([400, 'No transfers operations specified'])
  })

  it('bad JSON is 400 "Badly formatted JSON request"; a list is 400 "Expecting a dictionary"', async () => {
    const bad = await submit('{"files": [', { contentType: 'application/json' })
    expect([bad.status, message(bad)]).toEqual([400, 'Badly formatted JSON request'])
    const list = await submit([file()])
    expect([list.status, message(list)]).toEqual([400, 'Expecting a dictionary'])
    expect(bad.json).toEqual({ status: '400 Bad Request', message: 'Badly formatted JSON request' })
  })

  it('PUT is parsed as JSON whatever the content type', async () => {
    const r = await submit({ files: [file()], params: {} }, { method: 'PUT', contentType: 'text/plain' })
    expect(r.status).toBe(200)
  })

  it('a "delete" key is 405 without an Allow header', async () => {
    const r = await submit({ files: [file()], delete: [{ surl: SRC }] })
    expect([r.status, message(r)]).toEqual([405, 'Deletion jobs are no longer supported by FTS'])
    expect(r.headers.allow).toBeUndefined()
  })
})

describe('submission: files', () => {
  const refused = async (files: unknown): Promise<unknown> => {
    const r = await submit({ files, params: {} })
    expect(r.status).toBe(400)
    return message(r)
  }

  it('each URL needs a scheme (not file), a host and a path', async () => {
    expect(await refused([file({ sources: ['/store/x'] })])).toBe(
      'Invalid value within the request: Missing scheme (/store/x)',
    )
    expect(await refused([file({ sources: ['file:///data/x'] })])).toBe(
      'Invalid value within the request: Can not transfer local files (file:///data/x)',
    )
    expect(await refused([file({ destinations: ['root:///store/x'] })])).toBe(
      'Invalid value within the request: Missing host (root:///store/x)',
    )
    expect(await refused([file({ destinations: ['root://dst.example/'] })])).toBe(
      'Invalid value within the request: Missing path (root://dst.example/)',
    )
  })

  it('sources and destinations are required; nothing to copy is "No valid pairs available"', async () => {
    expect(await refused([{ destinations: [DST] }])).toBe("Missing parameter: 'sources'")
    expect(await refused([{ sources: [SRC] }])).toBe("Missing parameter: 'destinations'")
    expect(await refused([file({ sources: [] })])).toBe('No valid pairs available')
    expect(await refused([])).toBe('No valid pairs available')
  })

  it('metadata over 1024 characters is refused; job_metadata gains auth_method', async () => {
    const big = 'x'.repeat(1100)
    expect(await refused([file({ metadata: { big } })])).toMatch(/metadata exceeds size limit/)
    const r = await submit({ files: [file()], params: { job_metadata: { big } } })
    expect([r.status, message(r)]).toEqual([400, expect.stringMatching(/metadata exceeds size limit/)])
    const id = await submitted({ job_metadata: { issuer: 'ASO' } }, [file({ metadata: 'label me' })])
    expect((await job(id)).job_metadata).toEqual({ issuer: 'ASO', auth_method: 'certificate' })
    const files = (await client.get(`/jobs/${id}/files`)).json as Obj[]
    expect(files[0]!.file_metadata).toEqual({ label: 'label me' })
  })
})

describe('submission: params', () => {
  it('incompatible overwrite flags are 400; only overwrite_hop + when_only_on_disk may combine', async () => {
    const r = await submit({ files: [file()], params: { overwrite: true, overwrite_on_retry: true } })
    expect([r.status, message(r)]).toEqual([400, 'Incompatible overwrite flags used at the same time'])
  })

  it('3.13 job fields: destination_spacetoken / source_spacetoken, os_project_id; overwrite_flag a letter or null', async () => {
    const id = await submitted({ destination_spacetoken: 'DST', source_spacetoken: 'SRC', overwrite: 'Y' })
    const j = await job(id)
    expect(j).toMatchObject({
      destination_spacetoken: 'DST',
      source_spacetoken: 'SRC',
      os_project_id: null,
      overwrite_flag: 'Y',
    })
    expect(j).not.toHaveProperty('space_token')
    expect(j).not.toHaveProperty('source_space_token')
    expect((await client.get(`/jobs/${id}/destination_spacetoken`)).json).toBe('DST')
    expect(await client.get(`/jobs/${id}/space_token`)).toMatchObject({ status: 404 })
    expect((await job(await submitted({ overwrite_on_retry: true }))).overwrite_flag).toBe('R')
    expect((await job(await submitted())).overwrite_flag).toBeNull()
  })

  it('staging_metadata / archive_metadata: objects (or strings holding one) up to 1024 characters, stored', async () => {
    const id = await submitted({}, [file({ staging_metadata: '{"pin": 1}', archive_metadata: { a: 'b' } })])
    const [f] = (await client.get(`/jobs/${id}/files`)).json as Obj[]
    expect(f).toMatchObject({ staging_metadata: { pin: 1 }, archive_metadata: { a: 'b' } })
    for (const [extra, text] of [
      [{ staging_metadata: 'pin' }, 'Invalid value within the request: Staging metadata not in JSON format'],
      [{ archive_metadata: [1] }, 'Invalid value within the request: Archive metadata not in JSON format'],
      [{ staging_metadata: { x: 'a'.repeat(1100) } }, 'Staging metadata exceeds size limit (1109 > 1024)'],
    ] as const) {
      const r = await submit({ files: [file(extra)] })
      expect([r.status, message(r)]).toEqual([400, text])
    }
  })

  it('staging: a stage-in-only file (source = destination) is FINISHED once staged, nothing copied; others queue', async () => {
    const surl = 'root://tape.example//store/data/f'
    const only = await submitted({ bring_online: 60 }, [{ sources: [surl], destinations: [surl] }])
    const copy = await submitted({ bring_online: 60 })
    const done = await waitForJob(sim, only, (j) => j.jobState === 'FINISHED')
    expect(done.files[0]).toMatchObject({
      fileState: 'FINISHED',
      sourceSurl: `${surl}?activity=default`,
      destSurl: `${surl}?activity=default`,
      attempts: [],
    })
    expect(done.files[0]!.stagingFinished).not.toBeNull()
    const queued = await waitForJob(sim, copy, (j) => j.files[0]!.fileState !== 'STAGING')
    expect([queued.jobState, queued.files[0]!.fileState]).toEqual(['SUBMITTED', 'SUBMITTED'])
  })

  it('reuse needs one source SE and one destination SE', async () => {
    const files = [file(), file({ destinations: ['root://other.example//store/user/alice/g'] }, 1)]
    const r = await submit({ files, params: { reuse: true } })
    expect([r.status, message(r)]).toEqual([
      400,
      'Reuse jobs must only contain transfers for the same source ad destination storage',
    ])
    expect(await job(await submitted({ reuse: true }, [file(), file({}, 1)]))).toMatchObject({
      job_type: 'Y',
    })
  })

  it('echoes: priority clamped, retry and retry_delay as given, verify_checksum as a letter', async () => {
    expect(await job(await submitted({ priority: 9 }))).toMatchObject({
      priority: 5,
      retry: 0,
      retry_delay: 0,
    })
    expect(await job(await submitted({ priority: 0, retry: -1 }))).toMatchObject({ priority: 1, retry: -1 })
    expect((await job(await submitted({}))).verify_checksum).toBe('n')
    expect((await job(await submitted({}, [file({ checksum: 'adler32:0a1b2c3d' })]))).verify_checksum).toBe(
      't',
    )
    expect((await job(await submitted({ verify_checksum: true }))).verify_checksum).toBe('b')
    expect((await job(await submitted({ verify_checksum: 'source' }))).verify_checksum).toBe('s')
  })

  it('max_time_in_queue: a bare int is hours, strings carry units, 0 or absent is null', async () => {
    const now = Date.now() / 1000
    const hours = (await job(await submitted({ max_time_in_queue: 2 }))).max_time_in_queue as number
    expect(hours).toBeGreaterThanOrEqual(Math.floor(now) + 7200 - 1)
    expect(hours).toBeLessThanOrEqual(now + 7200 + 2)
    const minutes = (await job(await submitted({ max_time_in_queue: '30m' }))).max_time_in_queue as number
    expect(Math.abs(minutes - (now + 1800))).toBeLessThan(3)
    expect((await job(await submitted({ max_time_in_queue: 0 }))).max_time_in_queue).toBeNull()
    expect((await job(await submitted({}))).max_time_in_queue).toBeNull()
  })

  it('standard ids are UUID version 1', async () => {
    expect(await submitted()).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-1[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })

  it('deterministic ids are uuid5(vos_id[0], sid); no sid is 400, a numeric sid 400, a reused sid 409', async () => {
    const who = (await client.get('/whoami')).json as { vos_id: string[] }
    const id = await submitted({ id_generator: 'deterministic', sid: 'batch-1' })
    expect(id).toBe(uuid5(who.vos_id[0]!, 'batch-1'))
    const again = await submit({ files: [file()], params: { id_generator: 'deterministic', sid: 'batch-1' } })
    expect(again.status).toBe(409)
    expect(again.json).toEqual({
      status: '409 Conflict',
      message: 'The sid provided by the user is duplicated',
    })
    const noSid = await submit({ files: [file()], params: { id_generator: 'deterministic' } })
    expect([noSid.status, message(noSid)]).toEqual([400, 'Need sid for deterministic job id generation'])
    const numeric = await submit({ files: [file()], params: { id_generator: 'deterministic', sid: 42 } })
    expect(numeric.status).toBe(400)
    expect(message(numeric)).toMatch(/^Malformed request: /)
    // still a conflict once that job is cancelled
    expect((await client.request('DELETE', `/jobs/${id}`)).status).toBe(200)
    expect(
      (await submit({ files: [file()], params: { id_generator: 'deterministic', sid: 'batch-1' } })).status,
    ).toBe(409)
  })
})

describe('job status', () => {
  it('a job and its files carry the contract fields', async () => {
    const id = await submitted({}, [file({ filesize: 1234, checksum: 'adler32:0a1b2c3d', activity: 'ASO' })])
    const j = await job(id)
    expect(j).toMatchObject({ job_id: id, job_state: 'SUBMITTED', job_type: 'N', http_status: '200 Ok' })
    expect(j).toMatchObject({
      source_se: 'root://src.example',
      dest_se: 'root://dst.example',
      user_dn: ALICE,
    })
    expect(j.submit_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
    const [f] = (await client.get(`/jobs/${id}/files`)).json as Obj[]
    expect(f).toMatchObject({
      file_index: 0,
      file_state: 'SUBMITTED',
      source_se: 'root://src.example',
      filesize: null,
      user_filesize: 1234,
      checksum: 'adler32:0a1b2c3d',
      activity: 'ASO',
      file_state_initial: '',
      retry: 0,
    })
    expect(Number.isInteger(f!.file_id)).toBe(true)
  })

  it('an unknown job is 404 in shape 2; its files are 404 in shape 1', async () => {
    const r = await client.get('/jobs/no-such-job')
    expect(r.status).toBe(404)
    expect(r.json).toEqual({
      job_id: 'no-such-job',
      http_status: '404 Not Found',
      http_message: 'No job with the id "no-such-job" has been found',
    })
    const files = await client.get('/jobs/no-such-job/files')
    expect(files.status).toBe(404)
    expect(files.json).toEqual({
      status: '404 Not Found',
      message: 'No job with the id "no-such-job" has been found',
    })
  })

  it('bulk status: 200 when all are found, 207 when one is not; a trailing comma forces a list', async () => {
    const [a, b] = [await submitted(), await submitted()]
    const both = await client.get(`/jobs/${a},${b}`)
    expect(both.status).toBe(200)
    expect((both.json as Obj[]).map((x) => x.job_id)).toEqual([a, b])
    const partial = await client.get(`/jobs/${a},missing`)
    expect(partial.status).toBe(207)
    expect((partial.json as Obj[])[1]).toMatchObject({ job_id: 'missing', http_status: '404 Not Found' })
    const one = await client.get(`/jobs/${a},`)
    expect(one.status).toBe(200)
    expect(Array.isArray(one.json)).toBe(true)
  })

  it('?files= adds the listed fields of every file', async () => {
    const id = await submitted()
    const r = (await client.get(`/jobs/${id}?files=file_state,dest_surl`)).json as Obj
    expect(r.files).toEqual([{ file_state: 'SUBMITTED', dest_surl: `${DST}0` }])
  })

  it('a single field is a bare JSON value; an unknown one is 404 "No such field"', async () => {
    const id = await submitted()
    const state = await client.get(`/jobs/${id}/job_state`)
    expect([state.status, state.text]).toEqual([200, '"SUBMITTED"'])
    const none = await client.get(`/jobs/${id}/no_field`)
    expect([none.status, message(none)]).toEqual([404, 'No such field'])
  })

  it('GET /jobs lists unfinished jobs, filters by state, limit and fields', async () => {
    const id = await submitted()
    const list = (await client.get('/jobs')).json as Obj[]
    expect(list.some((j) => j.job_id === id)).toBe(true)
    const canceled = await submitted()
    await client.request('DELETE', `/jobs/${canceled}`)
    const recent = (await client.get('/jobs?state_in=CANCELED&time_window=1&fields=job_id,job_state'))
      .json as Obj[]
    expect(recent).toContainEqual({ job_id: canceled, job_state: 'CANCELED' })
    const limited = await client.get('/jobs?limit=501')
    expect([limited.status, message(limited)]).toEqual([
      400,
      'The limit must be positive and less or equal than 500',
    ])
  })
})

describe('cancel and modify', () => {
  it('cancel is 200 with the job CANCELED; cancelling again is 200 with an inner 304', async () => {
    const id = await submitted()
    const first = await client.request('DELETE', `/jobs/${id}`)
    expect(first.status).toBe(200)
    expect(first.json).toMatchObject({
      job_id: id,
      job_state: 'CANCELED',
      reason: 'Job canceled by the user',
    })
    const [f] = (await client.get(`/jobs/${id}/files`)).json as Obj[]
    expect(f).toMatchObject({ file_state: 'CANCELED', reason: 'Job canceled by the user' })
    const second = await client.request('DELETE', `/jobs/${id}`)
    expect(second.status).toBe(200)
    expect(second.json).toMatchObject({
      job_state: 'CANCELED',
      http_status: '304 Not Modified',
      http_message: 'The job is in a terminal state',
    })
  })

  it('bulk cancel: errors and terminal jobs first, then the jobs it cancelled; 207 only for errors', async () => {
    const [active, done] = [await submitted(), await submitted()]
    await client.request('DELETE', `/jobs/${done}`)
    const r = await client.request('DELETE', `/jobs/${active},missing,${done}`)
    expect(r.status).toBe(207)
    expect((r.json as Obj[]).map((e) => [e.job_id, e.http_status])).toEqual([
      ['missing', '404 Not Found'],
      [done, '304 Not Modified'],
      [active, '200 Ok'],
    ])
    const terminalOnly = await client.request('DELETE', `/jobs/${active},${done}`)
    expect(terminalOnly.status).toBe(200)
  })

  it('per-file cancel answers each file; the job goes CANCELED once nothing is active', async () => {
    const id = await submitted({}, [file({}, 0), file({}, 1)])
    const ids = ((await client.get(`/jobs/${id}/files`)).json as Obj[]).map((f) => f.file_id as number)
    const one = await client.request('DELETE', `/jobs/${id}/files/${ids[0]}`)
    expect([one.status, one.json]).toEqual([200, 'CANCELED'])
    expect((await job(id)).job_state).toBe('SUBMITTED')
    const rest = await client.request('DELETE', `/jobs/${id}/files/${ids[0]},${ids[1]},999999`)
    expect(rest.json).toEqual(['CANCELED', 'CANCELED', 'File does not belong to the job'])
    expect((await job(id)).job_state).toBe('CANCELED')
  })

  it('POST /jobs/{id} changes the priority of an active job', async () => {
    const id = await submitted({ priority: 2 })
    const r = await client.request('POST', `/jobs/${id}`, { body: { params: { priority: 4 } } })
    expect(r.status).toBe(200)
    expect((await job(id)).priority).toBe(4)
  })
})

describe('routing and faults', () => {
  it('an unknown method on a known URL is 405 with Allow; an unknown URL is 404', async () => {
    const r = await client.request('PATCH', '/jobs')
    expect([r.status, message(r)]).toEqual([405, 'The method is not allowed for the requested URL.'])
    expect(r.headers.allow).toBe('GET, HEAD, OPTIONS, POST, PUT')
    expect((await client.request('DELETE', '/whoami')).headers.allow).toBe('GET, HEAD, OPTIONS')
    const missing = await client.get('/no/such/place')
    expect(missing.status).toBe(404)
    expect((missing.json as Obj).status).toBe('404 Not Found')
  })

  it('injected 503 is an HTML page, 500 is JSON; a delay outlasts a client timeout', async () => {
    sim.faults.inject({ method: 'GET', path: '/jobs/:id' }, { kind: 'unavailable' }, 2)
    sim.faults.inject({ method: 'POST', path: '/jobs' }, { kind: 'internal-error' })
    for (let i = 0; i < 2; i++) {
      const r = await client.get('/jobs/x')
      expect(r.status).toBe(503)
      expect(r.headers['content-type']).toMatch(/^text\/html/)
      expect(r.text).toContain('<title>503 Service Unavailable</title>')
    }
    expect((await client.get('/jobs/x')).status).toBe(404)
    const failed = await submit({ files: [file()] })
    expect(failed.status).toBe(500)
    expect((failed.json as Obj).status).toBe('500 Internal Server Error')
    sim.faults.inject({ path: '/whoami' }, { kind: 'delay', ms: 1500 })
    await expect(client.get('/whoami', { timeoutMs: 300 })).rejects.toThrow(/timed out/)
  })

  it('a dropped submit response still creates the job', async () => {
    const before = sim.jobs().length
    sim.faults.dropNextSubmitResponse()
    await expect(
      submit({ files: [file()], params: { id_generator: 'deterministic', sid: 'dropped' } }),
    ).rejects.toThrow()
    expect(sim.jobs().length).toBe(before + 1)
    const who = (await client.get('/whoami')).json as { vos_id: string[] }
    expect((await client.get(`/jobs/${uuid5(who.vos_id[0]!, 'dropped')}`)).status).toBe(200)
  })
})

describe('archive', () => {
  it('a finished job leaves the live tables for /archive after archiveAfterMs', async () => {
    const s = await startInsecureSim(ALICE, { maxActive: 0, archiveAfterMs: 100 })
    try {
      const c = simClient(s.sim.url)
      const r = await c.request('POST', '/jobs', { body: { files: [file()], params: {} } })
      const id = (r.json as { job_id: string }).job_id
      expect((await c.request('DELETE', `/jobs/${id}`)).status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect((await c.get(`/jobs/${id}`)).status).toBe(404)
      const archived = await c.get(`/archive/${id}`)
      expect(archived.status).toBe(200)
      expect(archived.json).toMatchObject({ job_id: id, job_state: 'CANCELED', files: [expect.any(Object)] })
      expect((await c.get(`/archive/${id}/job_state`)).json).toBe('CANCELED')
      expect(s.sim.jobs().find((j) => j.jobId === id)?.archived).toBe(true)
    } finally {
      await s.sim.close()
    }
  })
})
