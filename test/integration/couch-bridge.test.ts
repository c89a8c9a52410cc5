import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CouchClient } from '../../src/ingest/couchdb/client.js'
import { problemsReport } from '../../src/reports/problems.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { type CouchServer, startCouch } from '../support/couchdb.js'
import { type FileLab, makeFileLab, testBytes } from '../support/file-sites.js'

/** The CLI from the sources, as an operator runs it. */
function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    )
  })
}

type Doc = Record<string, unknown> & { _id: string; _rev?: string }

const DB = 'asynctransfer'

/** A document as the original post-job step wrote it (`_id` = sha224 of the source LFN). */
async function postJobDoc(
  lab: FileLab,
  o: {
    user: string
    name: string
    jobRetry?: number
    size?: number
    write?: boolean
    destination?: string
    extra?: Record<string, unknown>
  },
): Promise<Doc> {
  const sourceLfn = `/store/temp/user/${o.user}.abc/crab/${o.name}`
  const data = testBytes(o.size ?? 100 + o.name.length, o.name.length)
  const w = o.write === false ? null : await lab.writeOutput('SITE_A', sourceLfn, data)
  const { adler32Of } = await import('../support/couch-docs.js')
  return {
    _id: createHash('sha224').update(sourceLfn).digest('hex'),
    lfn: sourceLfn,
    source_lfn: sourceLfn,
    destination_lfn: `/store/user/${o.user}/crab/${o.name}`,
    source: 'SITE_A',
    destination: o.destination ?? 'SITE_B',
    user: o.user,
    group: '',
    role: '',
    dn: `/DC=test/CN=${o.user}`,
    size: w?.size ?? data.length,
    checksums: { adler32: w?.adler32 ?? (await adler32Of(data)), cksum: '0' },
    type: 'output',
    publish: 0,
    state: 'new',
    retry_count: [],
    failure_reason: '',
    start_time: '2026-12-07 10:00:00.000000',
    end_time: '',
    last_update: 1_796_000_000,
    job_end_time: 1_796_000_000,
    jobid: o.name.replace(/\D/g, '') || '1',
    job_retry_count: o.jobRetry ?? 0,
    workflow: `261207_100000:${o.user}_crab_test`,
    inputdataset: '/Primary/Parent-v1/MINIAOD',
    dbs_url: 'https://cmsweb.example/dbs/prod/global/DBSReader',
    ...o.extra,
  }
}

describe('the CouchDB bridge (pouchdb-server peer, file:// sites)', () => {
  let couch: CouchServer
  let lab: FileLab
  let agent: TestAgent

  const get = async (id: string) => (await couch.call<Doc>('GET', `/${DB}/${id}`)).body
  const put = async (doc: Doc) => {
    const r = await couch.call<{ ok?: boolean; rev?: string; error?: string }>(
      'PUT',
      `/${DB}/${doc._id}`,
      doc,
    )
    if (!r.body.ok) throw new Error(`PUT ${doc._id}: ${JSON.stringify(r.body)}`)
    return r.body.rev!
  }
  /** puts a change on the latest revision, as another client would (read, change, write; again on a conflict) */
  const update = async (id: string, change: (d: Doc) => void) => {
    for (;;) {
      const d = await get(id)
      change(d)
      const r = await couch.call<{ ok?: boolean; error?: string }>('PUT', `/${DB}/${id}`, d)
      if (r.body.ok) return
      if (r.body.error !== 'conflict') throw new Error(JSON.stringify(r.body))
    }
  }
  const waitDoc = (id: string, check: (d: Doc) => boolean, what: string, timeoutMs = 30_000) =>
    agent.waitFor(async () => check(await get(id)), timeoutMs, `document ${id}: ${what}`)

  beforeAll(async () => {
    couch = await startCouch()
    await couch.createDb(DB)
    lab = await makeFileLab({
      sites: ['SITE_A', 'SITE_B', 'SITE_C'],
      config: {
        users: { alice: { groups: ['cms'] }, bob: {}, carol: {} },
        ingest: {
          couchdb: {
            url: couch.url,
            database: DB,
            pollTimeout: '2s',
            heartbeat: '1s',
            writeBackInterval: '200ms',
          },
        },
      },
    })
    agent = await startTestAgent(lab.configPath)
  })
  afterAll(async () => {
    await agent?.stop()
    await couch?.destroy()
  })

  it('ingests documents in state new, writes each state back as the original daemons did, refuses the unknown user', async () => {
    const docs = [
      ...(await Promise.all(
        Array.from({ length: 30 }, (_, i) => postJobDoc(lab, { user: 'alice', name: `out_${i}.root` })),
      )),
      await postJobDoc(lab, { user: 'bob', name: 'bob_1.root', extra: { publish: 1 } }),
      await postJobDoc(lab, { user: 'mallory', name: 'm_1.root' }),
    ]
    // mallory is no user of this ASO: refused whatever the document says
    const r = await couch.call<unknown[]>('POST', `/${DB}/_bulk_docs`, { docs })
    expect(r.status).toBe(201)
    for (const d of docs) {
      await waitDoc(d._id, (x) => ['done', 'failed'].includes(String(x.state)), 'a terminal state')
    }
    for (const d of docs.slice(0, 31)) {
      const x = await get(d._id)
      expect(x.state, JSON.stringify(x)).toBe('done')
      expect(x.lfn).toBe(d.destination_lfn)
      expect(x.retry_count).toEqual([])
      expect(String(x.end_time)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/)
      expect(typeof x.last_update).toBe('number')
      expect(x.inputdataset).toBe('/Primary/Parent-v1/MINIAOD')
      expect(existsSync(lab.path('SITE_B', String(d.destination_lfn)))).toBe(true)
    }
    const bob = await get(docs[30]!._id)
    expect(bob.publication_state).toBe('not_required')
    expect(String(bob.publication_note)).toMatch(/no output dataset/)
    const mallory = await get(docs[31]!._id)
    expect(mallory.state).toBe('failed')
    expect(String(mallory.failure_reason)).toMatch(/"mallory" is not a user of this ASO/)
    // one ASO record per accepted document
    const all = await agent.store.list({ limit: 1000 })
    expect(all.items).toHaveLength(31)
    const status = await agent.store.couchStatus(`${couch.url}/${DB}`)
    expect(status.feed?.ingested).toBe(31)
    expect(status.feed?.rejected).toBe(1)
    // the checkpoint is the server's seq as text (PouchDB sends numbers: nothing reads it as one)
    expect(typeof status.feed?.seq).toBe('string')
    await agent.waitFor(
      async () => (await agent.store.couchStatus(`${couch.url}/${DB}`)).pending === 0,
      10_000,
      'no write-back pending',
    )
    // the dashboard's Problems: the feed is at its head, nothing refused but mallory
    const problems = await problemsReport(agent.store, agent.sites, agent.config, {
      user: undefined,
      now: Date.now(),
      stuckAfterMs: 1_800_000,
      proxyWithinMs: 0,
    })
    expect(problems.couch).toMatchObject({ lagging: false, pending: 0, refused: 1, forbidden: 0 })
    // the operator's view: aso couch status
    const out = await runCli(['couch', 'status', '--json', '--config', lab.configPath])
    expect(out.code).toBe(0)
    const shown = JSON.parse(out.stdout) as {
      lagging: boolean
      documents: number
      pending: number
      feed: { ingested: number }
    }
    expect(shown).toMatchObject({ lagging: false, documents: 32, pending: 0, feed: { ingested: 31 } })
  })

  it('a re-posted document changes nothing; a higher job_retry_count supersedes; a kill and a resubmission the old way', async () => {
    const same = await postJobDoc(lab, { user: 'alice', name: 'repost_1.root' })
    await put(same)
    await waitDoc(same._id, (x) => x.state === 'done', 'done')
    // the post-job step posts it again (as new), then as a newer job retry
    await update(same._id, (d) => {
      d.state = 'new'
    })
    await waitDoc(same._id, (x) => x.state === 'done', 'done again')
    const retry = await postJobDoc(lab, { user: 'alice', name: 'repost_1.root', jobRetry: 1, size: 333 })
    await update(same._id, (d) => {
      Object.assign(d, { ...retry, _rev: d._rev, state: 'new' })
    })
    const id = (await agent.store.couchDocs([same._id])).get(same._id)!.transferId!
    await agent.waitFor(async () => (await agent.store.get(id))?.jobRetry === 1, 20_000, 'job retry 1 stored')
    await waitDoc(same._id, (x) => x.state === 'done' && x.size === 333, 'done with the new size')
    expect((await agent.store.get(id))?.state).toBe('DONE')

    // its link is paused: it waits in NEW; killed in the document, confirmed once ASO killed it
    await agent.store.setLinkSetting('SITE_A->SITE_C', { paused: true }, 'test', Date.now())
    const stuck = await postJobDoc(lab, { user: 'alice', name: 'late_1.root', destination: 'SITE_C' })
    await put(stuck)
    await agent.waitFor(
      async () => (await agent.store.couchDocs([stuck._id])).get(stuck._id)?.transferId != null,
      10_000,
      'ingested',
    )
    const tid = (await agent.store.couchDocs([stuck._id])).get(stuck._id)!.transferId!
    await update(stuck._id, (d) => {
      d.state = 'killed'
    })
    await agent.waitFor(async () => (await agent.store.get(tid))?.state === 'KILLED', 20_000, 'KILLED')
    await waitDoc(
      stuck._id,
      (x) => x.state === 'killed' && String(x.end_time) !== '',
      'killed, with its end time',
    )
    // the link opens; set back to new: the old way's resubmission
    await agent.store.setLinkSetting('SITE_A->SITE_C', { paused: false }, 'test', Date.now())
    await update(stuck._id, (d) => {
      d.state = 'new'
    })
    await waitDoc(stuck._id, (x) => x.state === 'done', 'done after the resubmission')
    expect(existsSync(lab.path('SITE_C', String(stuck.destination_lfn)))).toBe(true)
  })

  it('a write by another client meanwhile is merged, not lost; a deleted document is let go', async () => {
    const docs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postJobDoc(lab, { user: 'alice', name: `merge_${i}.root` })),
    )
    await couch.call('POST', `/${DB}/_bulk_docs`, { docs })
    // another client annotates every document while the bridge writes its states
    await Promise.all(
      docs.map((d) =>
        update(d._id, (x) => {
          x.operator_note = `checked ${d._id.slice(0, 6)}`
        }),
      ),
    )
    for (const d of docs) await waitDoc(d._id, (x) => x.state === 'done', 'done')
    for (const d of docs) {
      const x = await get(d._id)
      expect(x.operator_note).toBe(`checked ${d._id.slice(0, 6)}`)
      expect(x.lfn).toBe(d.destination_lfn)
    }
    const gone = docs[0]!
    const rev = (await get(gone._id))._rev
    await couch.call('DELETE', `/${DB}/${gone._id}?rev=${rev}`)
    await agent.waitFor(
      async () => (await agent.store.couchDocs([gone._id])).get(gone._id)?.deleted === true,
      10_000,
      'deleted',
    )
  })

  it('reads the feed continuous as well as longpoll, cut at a full batch, the seq given back as the server sent it', async () => {
    const db = 'feedcheck'
    await couch.createDb(db)
    await couch.call('POST', `/${db}/_bulk_docs`, {
      docs: Array.from({ length: 5 }, (_, i) => ({ _id: `d${i}`, state: 'new' })),
    })
    // pouchdb-server ignores `timeout`: a read at the head is cut by the client after the wait and timeoutMs
    const client = new CouchClient({ url: couch.url, database: db, timeoutMs: 1_000 })
    try {
      for (const feed of ['continuous', 'longpoll'] as const) {
        const seen: string[] = []
        let since = '0'
        for (;;) {
          const page = await client.changes({ since, limit: 2, feed, waitMs: 500, heartbeatMs: 200 })
          seen.push(...page.results.map((c) => c.id))
          expect(typeof page.lastSeq).toBe('string')
          since = page.lastSeq
          if (page.atHead) break
        }
        expect(seen, feed).toEqual(['d0', 'd1', 'd2', 'd3', 'd4'])
      }
    } finally {
      await client.close()
    }
  })

  it("reports a write-back the database's validate_doc_update forbids, and leaves the document as it is", async () => {
    // as the original's validate_doc_update refuses writers it does not know (here: any change to carol's state)
    const ddoc = {
      _id: '_design/guard',
      validate_doc_update:
        "function (newDoc, oldDoc) { if (oldDoc && newDoc.user === 'carol' && newDoc.state !== oldDoc.state) throw({ forbidden: 'only carol may change her documents' }) }",
    }
    expect((await couch.call('PUT', `/${DB}/_design/guard`, ddoc)).status).toBe(201)
    const d = await postJobDoc(lab, { user: 'carol', name: 'guarded_1.root' })
    await put(d)
    const name = `${couch.url}/${DB}`
    await agent.waitFor(
      async () =>
        (await agent.store.couchStatus(name)).errors.some(
          (e) => e.docId === d._id && /forbidden/.test(e.error),
        ),
      20_000,
      'the forbidden write-back reported',
    )
    expect((await agent.store.couchStatus(name)).feed?.forbidden).toBeGreaterThan(0)
    expect((await get(d._id)).state).toBe('new')
    const rev = (await couch.call<{ _rev: string }>('GET', `/${DB}/_design/guard`)).body._rev
    await couch.call('DELETE', `/${DB}/_design/guard?rev=${rev}`)
  })
})
