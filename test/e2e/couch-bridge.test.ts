/**
 * The CouchDB bridge end to end (issue 19): a script behaving like the original post-job step writes 1,000 job
 * outputs into an XRootD site and their documents into `asynctransfer` (pouchdb-server, on disk), re-posts some
 * and posts job retries of others, while another client annotates documents. The bridge runs in `aso serve`
 * (the built CLI), which is SIGKILLed and restarted mid-run; the CouchDB server is restarted too. At the end
 * every document says `done` with its final LFN, every file is at its destination intact, every document has
 * exactly one ASO record, nothing was ingested twice, and no annotation was lost.
 */
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import Database from 'better-sqlite3'
import { adler32 } from 'hash-wasm'
import { afterAll, describe, expect, it } from 'vitest'
import { keepNative } from '../../src/store/sqlite/driver.js'
import {
  type CouchDocument,
  type JobOutput,
  outputLfns,
  postDocuments,
  postJobDocument,
} from '../support/couch-postjob.js'
import { type CouchServer, startCouch } from '../support/couchdb.js'
import {
  ensureStopped,
  logTail,
  requireBuiltCli,
  type ServeProcess,
  sigkillAndReap,
  startServe,
  stopGracefully,
} from '../support/crash-agents.js'
import { testBytes } from '../support/file-sites.js'
import {
  freePort,
  putFile,
  requireXrootd,
  sitePath,
  startXrootdSite,
  type XrootdSite,
} from '../support/xrootd.js'
import { writeXrootdConfig } from '../support/xrootd-lab.js'

const DB = 'asynctransfer'
/** ASO_SOAK=1 (or ASO_COUCH_FILES): the 1,000 documents; 100 otherwise (each a real XRootD copy) */
const FILES = Number(process.env.ASO_COUCH_FILES ?? (process.env.ASO_SOAK ? 1000 : 100))
const WAVES = 10
const RETRIED = FILES / 20
const REPOSTED = FILES / 20
const ANNOTATED = FILES / 10
/** the documents another client annotates (the post-job step's job retries, which rewrite theirs whole, spare them) */
const annotated = (i: number) => i >= FILES / 5 && i < FILES / 5 + ANNOTATED

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('the CouchDB bridge on XRootD sites, SIGKILLed and with CouchDB restarted mid-run', () => {
  let base: string
  let sites: XrootdSite[] = []
  let couch: CouchServer | undefined
  const lives: ServeProcess[] = []

  afterAll(async () => {
    for (const p of lives) await ensureStopped(p)
    await couch?.destroy()
    for (const s of sites) await s.stop()
    if (base && !process.env.ASO_COUCH_KEEP) await rm(base, { recursive: true, force: true })
  })

  it(
    'ends every document in its right terminal state, once, with every write-back landed',
    async () => {
      requireXrootd()
      requireBuiltCli()
      // ASO_COUCH_KEEP=DIR: the lab (database, logs, CouchDB data) under DIR, kept
      base = await mkdtemp(path.join(process.env.ASO_COUCH_KEEP ?? os.tmpdir(), 'aso-couch-e2e-'))
      const [A, B] = await Promise.all([
        startXrootdSite({ name: 'XRD_A', baseDir: base }),
        startXrootdSite({ name: 'XRD_B', baseDir: base }),
      ])
      sites = [A!, B!]
      couch = await startCouch({ dir: path.join(base, 'couch') })
      await couch.createDb(DB)
      const configPath = await writeXrootdConfig(
        base,
        { XRD_A: A!, XRD_B: B! },
        {
          users: { alice: { groups: ['cms'] }, bob: {} },
          api: { listen: `127.0.0.1:${await freePort()}` },
          links: { default: { maxActive: 50, maxFilesPerJob: 50 } },
          local: { maxConcurrent: 8, xrootParallel: 16 },
          ingest: {
            couchdb: {
              url: couch.url,
              database: DB,
              pollTimeout: '2s',
              heartbeat: '1s',
              writeBackInterval: '200ms',
              batchSize: 250,
            },
          },
        },
      )
      const serve = () => {
        const p = startServe({
          configPath,
          logPath: path.join(base, `serve-${lives.length}.log`),
          index: lives.length,
        })
        lives.push(p)
        return p
      }
      const dbPath = path.join(base, 'aso.db')
      // a connection of its own per look, opened only once the agent made the database (WAL): nothing held between
      let made = false
      const count = (q: string): number => {
        made ||= existsSync(`${dbPath}-wal`)
        if (!made) return 0
        const db = keepNative(new Database(dbPath, { readonly: true, fileMustExist: true }))
        try {
          return (keepNative(db.prepare(q)).get() as { n: number }).n
        } catch {
          return 0 // not migrated yet
        } finally {
          db.close()
        }
      }
      const waitUntil = async (
        what: string,
        check: () => boolean | Promise<boolean>,
        timeoutMs = 30_000 + FILES * 300,
      ) => {
        const until = Date.now() + timeoutMs
        while (!(await check())) {
          const agent = lives.at(-1)!
          if (agent.exitAt !== null && agent.killedAt === null)
            throw new Error(
              `aso serve exited on its own while waiting for ${what}:\n${logTail(agent.logPath)}`,
            )
          if (Date.now() > until) {
            const feed = count('select count(*) n from couch_docs')
            throw new Error(
              `timed out waiting for ${what} (${feed} documents taken):\n${logTail(agent.logPath)}`,
            )
          }
          await sleep(100)
        }
      }
      const allDocs = async () =>
        (
          await couch!.call<{ rows: { id: string; doc: CouchDocument }[] }>(
            'GET',
            `/${DB}/_all_docs?include_docs=true`,
          )
        ).body.rows
          .filter((r) => !r.id.startsWith('_design/'))
          .map((r) => r.doc)

      // the jobs' outputs, left in XRD_A's temporary areas
      const outputs: JobOutput[] = Array.from({ length: FILES }, (_, i) => ({
        user: i % 3 === 0 ? 'bob' : 'alice',
        workflow: `261207_1200${i % 4}:${i % 3 === 0 ? 'bob' : 'alice'}_crab_couch_${i % 4}`,
        jobid: i + 1,
        jobRetry: 0,
        name: `output_${i + 1}.root`,
        source: 'XRD_A',
        destination: 'XRD_B',
        data: testBytes(1_000 + ((i * 37) % 4_000), i + 1),
      }))
      await Promise.all(outputs.map((o) => putFile(A!, outputLfns(o).temp, o.data)))
      const docs = await Promise.all(outputs.map((o) => postJobDocument(o)))
      const wave = (w: number) => docs.slice((w * FILES) / WAVES, ((w + 1) * FILES) / WAVES)

      let agent = serve()
      const started = Date.now()
      for (let w = 0; w < 4; w++) await postDocuments(couch, DB, wave(w))
      // the bridge SIGKILLed amid ingestion and write-backs
      await waitUntil(
        'a third ingested',
        () => count('select count(*) n from couch_docs') >= (FILES * 3) / 10,
      )
      expect(await sigkillAndReap(agent)).toEqual([])
      const ingestedAtKill = count('select count(*) n from couch_docs')
      agent = serve()
      for (let w = 4; w < 7; w++) await postDocuments(couch, DB, wave(w))
      // the CouchDB server restarted (its data on disk) while the bridge follows its feed and writes back
      await waitUntil(
        'two thirds ingested',
        () => count('select count(*) n from couch_docs') >= (FILES * 6) / 10,
      )
      await couch.restart()
      for (let w = 7; w < WAVES; w++) await postDocuments(couch, DB, wave(w))
      // the same documents posted again; another client annotating documents while the bridge writes them
      await postDocuments(couch, DB, docs.slice(FILES / 10, FILES / 10 + REPOSTED))
      const annotate = Promise.all(
        docs.slice(FILES / 5, FILES / 5 + ANNOTATED).map(async (d) => {
          for (;;) {
            const cur = (await couch!.call<CouchDocument>('GET', `/${DB}/${d._id}`)).body
            cur.operator_note = `seen by the monitor: ${d._id.slice(0, 8)}`
            const r = await couch!.call<{ ok?: boolean; error?: string }>('PUT', `/${DB}/${d._id}`, cur)
            if (r.body.ok) return
            if (r.body.error !== 'conflict') throw new Error(JSON.stringify(r.body))
          }
        }),
      )
      // job retries of outputs once they are delivered (the first RETRIED documents found done): new bytes,
      // job_retry_count 1
      let doneFirst: number[] = []
      await waitUntil('outputs done in CouchDB', async () => {
        const done = new Set((await allDocs()).filter((d) => d.state === 'done').map((d) => d._id))
        doneFirst = docs.flatMap((d, i) => (done.has(d._id) && !annotated(i) ? [i] : [])).slice(0, RETRIED)
        return doneFirst.length === RETRIED
      })
      const retriedAt = new Map(
        doneFirst.map((i, k) => [i, { ...outputs[i]!, jobRetry: 1, data: testBytes(700 + k, 10_000 + k) }]),
      )
      const retried = [...retriedAt.values()]
      for (const o of retried) await putFile(A!, outputLfns(o).temp, o.data)
      await postDocuments(couch, DB, await Promise.all(retried.map((o) => postJobDocument(o))))
      await annotate

      const want = new Map(docs.map((d, i) => [d._id, (retriedAt.get(i) ?? outputs[i]!).data.length]))
      await waitUntil(
        'every document done with its final LFN and size',
        async () => {
          const all = await allDocs()
          return (
            all.length === FILES &&
            all.every((d) => d.state === 'done' && d.size === want.get(d._id) && d.lfn === d.destination_lfn)
          )
        },
        60_000 + FILES * 1_500,
      )
      await waitUntil(
        'no write-back pending',
        () => count('select count(*) n from couch_docs where pending > 0') === 0,
      )
      const seconds = (Date.now() - started) / 1000
      const stopped = await stopGracefully(agent)
      expect(stopped).toMatchObject({ code: 0 })

      // exactly one ASO record per document, each injected once (a job retry supersedes it in place)
      expect(count('select count(*) n from transfers')).toBe(FILES)
      expect(count('select count(distinct transfer_id) n from couch_docs')).toBe(FILES)
      expect(count("select count(*) n from transfers where state <> 'DONE'")).toBe(0)
      expect(count('select count(*) n from events where from_state is null')).toBe(FILES)
      expect(count('select count(*) n from transfers where job_retry = 1')).toBe(RETRIED)
      expect(count('select ingested n from couch_feeds')).toBe(FILES)
      expect(count('select count(*) n from couch_docs where last_error is not null')).toBe(0)
      // every file at its destination, intact (the job retries' new bytes)
      for (const [i, o] of outputs.entries()) {
        const data = (retriedAt.get(i) ?? o).data
        const got = await readFile(sitePath(B!, outputLfns(o).final))
        expect(got.length).toBe(data.length)
        if (retriedAt.has(i) || i % 97 === 0) expect(await adler32(got)).toBe(await adler32(data))
      }
      // every annotation kept, every write-back as the original daemons wrote it
      const all = await allDocs()
      // retry_count: one entry per failed attempt (a copy may fail on a loaded machine and be retried)
      const attempts = new Map(
        (
          keepNative(
            keepNative(new Database(dbPath, { readonly: true, fileMustExist: true })).prepare(
              'select d.doc_id id, t.attempt n from couch_docs d join transfers t on t.id = d.transfer_id',
            ),
          ).all() as { id: string; n: number }[]
        ).map((r) => [r.id, r.n]),
      )
      for (const d of all) {
        expect((d.retry_count as unknown[]).length, d._id).toBe(attempts.get(d._id)! - 1)
        expect(String(d.end_time)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$/)
      }
      expect(all.filter((d) => String(d.operator_note ?? '').startsWith('seen by the monitor')).length).toBe(
        ANNOTATED,
      )
      const conflicts = count('select conflicts n from couch_feeds')
      console.log(
        `couch bridge e2e: ${FILES} documents (${RETRIED} job retries, ${REPOSTED} re-posts, ${ANNOTATED} annotated) in ${seconds.toFixed(1)} s; SIGKILL after ${ingestedAtKill} ingested; ${conflicts} write-back conflicts merged`,
      )
    },
    180_000 + FILES * 2_500,
  )
})
