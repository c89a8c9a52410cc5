/**
 * The HTTP methods and the WebDAV handler against real XRootD HTTPS endpoints (XrdHttp with the TPC handler,
 * docs/storage-notes.md §2) and a test PKI, then the whole agent on davs:// sites. Run inside a private network
 * namespace (scripts/test.sh):
 *   unshare -n -- bash -c 'ip link set lo up && npx vitest run test/integration/http-tpc.test.ts'
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { adler32 } from 'hash-wasm'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { Endpoint } from '../../src/domain/endpoint.js'
import { classify } from '../../src/domain/failures.js'
import type { EngineFile } from '../../src/engines/types.js'
import { explainTransfer } from '../../src/reports/explain.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../../src/storage/copy-method.js'
import { HttpClients } from '../../src/storage/http/http-client.js'
import { httpProtocolFor } from '../../src/storage/http/http-protocol.js'
import { httpStreamFor } from '../../src/storage/http/http-stream.js'
import { httpTpcFor } from '../../src/storage/http/http-tpc.js'
import type { TransferCredentials } from '../../src/storage/protocol.js'
import { startTestAgent } from '../support/agent.js'
import { makeTestPki, type TestPki } from '../support/pki.js'
import { putFile, requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'
import { outputRequest, stageOutput, tempLfn, writeXrootdConfig } from '../support/xrootd-lab.js'

const TEMP = '/store/temp/user/alice.1234'
const DEST = '/store/user/alice'

let base: string
let pki: TestPki
let A: XrootdSite
let B: XrootdSite
/** HTTPS without the TPC handler (and without xroot TPC): COPY answers 400 Request unknown */
let C: XrootdSite
let clients: HttpClients
let serial = 0

beforeAll(async () => {
  requireXrootd()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-http-'))
  pki = await makeTestPki(path.join(base, 'pki'))
  ;[A, B, C] = await Promise.all([
    startXrootdSite({ name: 'A', baseDir: base, https: { pki } }),
    startXrootdSite({ name: 'B', baseDir: base, https: { pki } }),
    startXrootdSite({ name: 'C', baseDir: base, https: { pki }, tpc: false }),
  ])
  clients = new HttpClients()
  for (const s of [A, B, C]) clients.trust(s.httpsUrl!, pki.caDir)
})

/** the sites that were started (a failed beforeAll leaves some undefined) */
const sites = (): XrootdSite[] => [A, B, C].filter((s): s is XrootdSite => s !== undefined)

beforeEach(async () => {
  // a server that died during an earlier test is started again, loudly (console.warn with its log): that test
  // has failed already, and the later ones then test our code rather than fail with "Connection refused"
  for (const s of sites()) await s.ensureRunning()
})

afterEach(async () => {
  // a server that died during this test fails it in those words ("… crashed (SIGSEGV)", its last log lines),
  // even when the test's own assertions passed or only saw a refused connection
  for (const s of sites()) await s.assertRunning()
})

afterAll(async () => {
  await clients?.close()
  await Promise.all([A?.stop(), B?.stop(), C?.stop()])
  if (base) await rm(base, { recursive: true, force: true })
})

const handler = () => httpProtocolFor(clients)
const methods = () => {
  const h = handler()
  const stream = httpStreamFor(h)
  return { tpc: httpTpcFor(h, stream), stream }
}

const davs = (site: XrootdSite, lfn: string): Endpoint => ({
  scheme: 'davs',
  url: `davs://localhost:${site.httpsPort}${lfn}`,
})
const fileEp = (p: string): Endpoint => ({ scheme: 'file', url: pathToFileURL(p).href })

function task(
  source: Endpoint,
  destination: Endpoint,
  rec: { size: number; adler32: string },
  signal?: AbortSignal,
) {
  serial++
  const file: EngineFile = {
    transferId: `t${serial}`,
    attempt: 1,
    submission: 1,
    task: '260101_000000:alice_crab_http',
    sources: [source],
    destinations: [destination],
    size: rec.size,
    adler32: rec.adler32,
    activity: 'user',
    priority: 3,
    ownsDestination: true,
  }
  return { file, source, destination, signal: signal ?? new AbortController().signal } satisfies CopyTask
}

async function stage(
  site: XrootdSite,
  lfn: string,
  data: Buffer,
): Promise<{ size: number; adler32: string }> {
  await putFile(site, lfn, data)
  return { size: data.length, adler32: await adler32(data) }
}

async function runMethod(
  method: CopyMethod,
  tasks: CopyTask[],
  concurrency = 16,
  credentials?: TransferCredentials,
) {
  const results = new Map<CopyTask, CopyResult>()
  const ctx: CopyContext = { concurrency, env: {}, credentials }
  const started = performance.now()
  await method.run(tasks, ctx, (t, r) => {
    expect(results.has(t), `reported twice: ${t.destination.url}`).toBe(false)
    results.set(t, r)
  })
  expect(results.size).toBe(tasks.length)
  return { results, ms: Math.round(performance.now() - started) }
}

function failure(r: CopyResult | undefined): string {
  expect(r?.ok, JSON.stringify(r)).toBe(false)
  return r && !r.ok ? r.reason : ''
}

async function expectAt(
  site: XrootdSite,
  lfn: string,
  rec: { size: number; adler32: string },
): Promise<void> {
  const data = await readFile(sitePath(site, lfn))
  expect(data.length).toBe(rec.size)
  expect(await adler32(data)).toBe(rec.adler32)
}

describe('http-tpc between XrdHttp endpoints', () => {
  it('copies 200 files by pull COPY, each verified by size and adler32 at the destination', async () => {
    const tasks: CopyTask[] = []
    const expected = new Map<CopyTask, { lfn: string; size: number; adler32: string }>()
    for (let i = 0; i < 200; i++) {
      const rec = await stage(A, `${TEMP}/many/out_${i}.root`, randomBytes(1000 + ((i * 7919) % 60_000)))
      // 4 destination directories, none existing yet: COPY needs them made first
      const lfn = `${DEST}/many/d${i % 4}/out_${i}.root`
      const t = task(davs(A, `${TEMP}/many/out_${i}.root`), davs(B, lfn), rec)
      tasks.push(t)
      expected.set(t, { lfn, ...rec })
    }
    const { tpc } = methods()
    const { results, ms } = await runMethod(tpc, tasks, 16)
    console.log(
      `http-tpc: 200 files (1-60 kB) in ${ms} ms at concurrency 16 (${(200_000 / ms).toFixed(0)} files/s)`,
    )
    for (const [t, r] of results) {
      const exp = expected.get(t)!
      expect(r, t.destination.url).toEqual({
        ok: true,
        bytes: exp.size,
        verified: { size: exp.size, adler32: exp.adler32 },
      })
      await expectAt(B, exp.lfn, exp)
    }

    // one file at a time: the latency of a single small third-party copy (COPY + HEAD)
    const one: number[] = []
    for (let i = 0; i < 20; i++) {
      const t = task(
        davs(A, `${TEMP}/many/out_${i}.root`),
        davs(B, `${DEST}/single/out_${i}.root`),
        expected.get(tasks[i]!)!,
      )
      const { results: r, ms: took } = await runMethod(tpc, [t], 1)
      expect(r.get(t)?.ok).toBe(true)
      one.push(took)
    }
    one.sort((a, b) => a - b)
    console.log(`http-tpc: one small file p50 ${one[10]} ms, p95 ${one[18]} ms (20 serial copies)`)
  }, 60_000)

  it('fails a missing source as permanent-source and leaves no 0-byte file at the destination', async () => {
    const lfn = `${DEST}/missing/nope.root`
    const t = task(davs(A, `${TEMP}/missing/nope.root`), davs(B, lfn), { size: 10, adler32: '0badc0de' })
    const { results } = await runMethod(methods().tpc, [t])
    const reason = failure(results.get(t))
    // XrdHttp answers 201 and puts the failure on the last body line
    expect(reason).toMatch(/^SOURCE \[2\] HTTP-TPC pull COPY failed: Remote side failed with status code 404/)
    expect(classify(reason).class).toBe('permanent-source')
    expect(existsSync(sitePath(B, lfn))).toBe(false)
    // the directory COPY needed was made, and nothing else is in it
    expect(existsSync(path.dirname(sitePath(B, lfn)))).toBe(true)
  })

  it('fails a destination the server may not write as permanent-destination', async () => {
    const rec = await stage(A, `${TEMP}/denied/out.root`, randomBytes(5000))
    // XRootD has no authorisation configured here: a directory its user cannot write is a real refusal
    const dir = sitePath(B, `${DEST}/readonly`)
    await mkdir(dir, { recursive: true })
    if (process.getuid?.() === 0) await chown(dir, 0, 0)
    await chmod(dir, 0o755)
    const t = task(davs(A, `${TEMP}/denied/out.root`), davs(B, `${DEST}/readonly/out.root`), rec)
    const { results } = await runMethod(methods().tpc, [t])
    const reason = failure(results.get(t))
    // XrdHttp 5.5 answers 401 for the file system's EACCES
    expect(reason).toMatch(
      /^DESTINATION \[13\] HTTP 401 : Unable to create \/store\/user\/alice\/readonly\/out\.root; permission denied/,
    )
    expect(classify(reason).class).toBe('permanent-destination')
    expect(existsSync(sitePath(B, `${DEST}/readonly/out.root`))).toBe(false)

    // the same refusal for a streamed PUT, and for making a directory under it
    const s = task(davs(A, `${TEMP}/denied/out.root`), davs(B, `${DEST}/readonly/sub/out.root`), rec)
    const streamed = failure((await runMethod(methods().stream, [s])).results.get(s))
    expect(streamed).toMatch(/^DESTINATION \[13\] HTTP 403 : Unable to mkdir .*permission denied/)
    expect(classify(streamed).class).toBe('permanent-destination')
  })

  it('fails a source that is not what the job recorded as permanent-source, and removes the copy', async () => {
    const rec = await stage(A, `${TEMP}/tampered/out.root`, randomBytes(7000))
    const wrong = rec.adler32 === '12345678' ? '87654321' : '12345678'
    const t = task(davs(A, `${TEMP}/tampered/out.root`), davs(B, `${DEST}/tampered/out.root`), {
      size: rec.size,
      adler32: wrong,
    })
    const reason = failure((await runMethod(methods().tpc, [t])).results.get(t))
    expect(reason).toBe(
      `SOURCE [5] Source and user-defined ADLER32 checksum do not match (${wrong} != ${rec.adler32})`,
    )
    expect(classify(reason).class).toBe('permanent-source')
    expect(existsSync(sitePath(B, `${DEST}/tampered/out.root`))).toBe(false)
  })

  it('pushes from the source when the destination has no TPC handler', async () => {
    const rec = await stage(A, `${TEMP}/push/out.root`, randomBytes(9000))
    const t = task(davs(A, `${TEMP}/push/out.root`), davs(C, `${DEST}/push/out.root`), rec)
    const { results } = await runMethod(methods().tpc, [t])
    expect(results.get(t)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    await expectAt(C, `${DEST}/push/out.root`, rec)
  })

  it('streams GET -> PUT when neither end does COPY, and says so', async () => {
    const rec = await stage(C, `${TEMP}/notpc/out.root`, randomBytes(3 * 1024 * 1024 + 11))
    const t = task(davs(C, `${TEMP}/notpc/out.root`), davs(C, `${DEST}/notpc/out.root`), rec)
    const { results } = await runMethod(methods().tpc, [t])
    expect(results.get(t)).toEqual({ ok: true, bytes: rec.size, verified: rec, method: 'http-stream' })
    await expectAt(C, `${DEST}/notpc/out.root`, rec)
  })

  it('an abort during a COPY leaves no file at the destination', async () => {
    const rec = await stage(A, `${TEMP}/abort/big.root`, Buffer.alloc(512 * 1024 * 1024, 5))
    const lfn = `${DEST}/abort/big.root`
    const ac = new AbortController()
    const t = task(davs(A, `${TEMP}/abort/big.root`), davs(B, lfn), rec, ac.signal)
    const running = runMethod(methods().tpc, [t])
    // abort once the destination server is writing the file
    const until = Date.now() + 20_000
    while (!existsSync(sitePath(B, lfn)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
    expect(existsSync(sitePath(B, lfn)), 'the COPY started').toBe(true)
    ac.abort()
    const { results } = await running
    expect(failure(results.get(t))).toBe('TRANSFER [125] Transfer aborted')
    await new Promise((r) => setTimeout(r, 1500))
    expect(existsSync(sitePath(B, lfn)), 'the server did not finish the copy after the abort').toBe(false)
    // staging and hashing 512 MiB alone took over 20 s with the machine at load 35
  }, 60_000)
})

describe('http-stream with local files', () => {
  it('copies file -> davs and davs -> file, and refuses a source that is not what the job recorded', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 3)
    const local = path.join(base, 'local', 'up.root')
    await mkdir(path.dirname(local), { recursive: true })
    await writeFile(local, data)
    const rec = { size: data.length, adler32: await adler32(data) }
    const { stream } = methods()
    const up = task(fileEp(local), davs(B, `${DEST}/stream/deep/up.root`), rec)
    expect((await runMethod(stream, [up])).results.get(up)).toEqual({
      ok: true,
      bytes: rec.size,
      verified: rec,
    })
    await expectAt(B, `${DEST}/stream/deep/up.root`, rec)

    const downPath = path.join(base, 'local', 'down', 'dir', 'down.root')
    const down = task(davs(B, `${DEST}/stream/deep/up.root`), fileEp(downPath), rec)
    expect((await runMethod(stream, [down])).results.get(down)).toEqual({
      ok: true,
      bytes: rec.size,
      verified: rec,
    })
    expect(await adler32(await readFile(downPath))).toBe(rec.adler32)

    const bad = task(fileEp(local), davs(B, `${DEST}/stream/bad.root`), {
      size: rec.size,
      adler32: '00000001',
    })
    const reason = failure((await runMethod(stream, [bad])).results.get(bad))
    expect(reason).toMatch(/^SOURCE \[5\] Source and user-defined ADLER32 checksum do not match/)
    expect(existsSync(sitePath(B, `${DEST}/stream/bad.root`))).toBe(false)
  })
})

describe('the WebDAV protocol handler', () => {
  it('stats, checksums, makes directories and removes, with a proxy as TLS client certificate', async () => {
    const h = handler()
    const rec = await stage(A, `${TEMP}/proto/f.root`, randomBytes(12_345))
    const url = `davs://localhost:${A.httpsPort}${TEMP}/proto/f.root`
    expect(await h.stat(url)).toEqual({ size: rec.size, isDirectory: false })
    expect(await h.stat(`https://localhost:${A.httpsPort}${TEMP}/proto`)).toMatchObject({ isDirectory: true })
    expect(await h.stat(`${url}.none`)).toBeNull()
    expect(await h.adler32(url)).toBe(rec.adler32)
    await expect(h.adler32(`${url}.none`, { scope: 'SOURCE' })).rejects.toThrow(/^SOURCE \[2\] HTTP 404/)

    // the user's proxy is presented in the TLS handshake (XrdHttp maps it to a DN hash)
    const proxy = await pki.proxy(await pki.userCert('alice'))
    expect(await h.adler32(url, { credentials: { proxyPath: proxy.path } })).toBe(rec.adler32)

    await h.makeParent(`davs://localhost:${B.httpsPort}${DEST}/made/a/b/file.root`)
    expect(await h.stat(`davs://localhost:${B.httpsPort}${DEST}/made/a/b`)).toMatchObject({
      isDirectory: true,
    })
    await h.remove(url)
    expect(existsSync(sitePath(A, `${TEMP}/proto/f.root`))).toBe(false)
    await expect(h.remove(url)).resolves.toBeUndefined()
  })

  it('refuses a server whose certificate it cannot verify, in words the classifier retries', async () => {
    const untrusting = httpProtocolFor(new HttpClients({ caDir: path.join(base, 'empty-ca') }))
    await mkdir(path.join(base, 'empty-ca'), { recursive: true })
    const other = await pki.foreignCa()
    await writeFile(path.join(base, 'empty-ca', 'foreign.pem'), other.certPem)
    const err = await untrusting
      .stat(`davs://localhost:${A.httpsPort}/store`, { scope: 'SOURCE' })
      .catch((e: Error) => e)
    expect(String((err as Error).message)).toMatch(/^SOURCE \[5\] SSL certificate problem: /)
    expect(classify((err as Error).message).class).toBe('transient')
  })
})

describe('the agent on davs:// sites', () => {
  it('copies by HTTP-TPC, by streamed copy where a site turns TPC off, and explain says which', async () => {
    const dir = path.join(base, 'agent')
    await mkdir(dir, { recursive: true })
    const site = (s: XrootdSite, tpc = true) => ({
      caDir: pki.caDir,
      protocols: [{ scheme: 'davs', prefix: `davs://localhost:${s.httpsPort}`, tpc }],
    })
    const configPath = await writeXrootdConfig(
      dir,
      {},
      {
        sites: { HTTP_A: site(A), HTTP_B: site(B), HTTP_B_NOTPC: site(B, false) },
        links: { default: { maxActive: 50, maxFilesPerJob: 50 } },
      },
    )
    const agent = await startTestAgent(configPath)
    try {
      const requests = []
      const data = new Map<string, Buffer>()
      for (let i = 0; i < 20; i++) {
        const name = `out_${i}.root`
        const bytes = randomBytes(4000 + i)
        const destination = i < 15 ? 'HTTP_B' : 'HTTP_B_NOTPC'
        const sub = i < 15 ? 'agent' : 'agent-notpc'
        const rec = await stageOutput(A, tempLfn('alice', sub, name), bytes)
        const r = outputRequest({
          user: 'alice',
          task: 'http',
          source: 'HTTP_A',
          destination,
          dir: sub,
          name,
          ...rec,
        })
        data.set(r.destinationLfn, bytes)
        requests.push(r)
      }
      const ids = (await agent.inject(requests)).map((r) => r.id!)
      await agent.waitFor(
        async () => (await agent.store.getMany(ids)).every((r) => r.state === 'DONE' || r.state === 'FAILED'),
        30_000,
        'every transfer DONE or FAILED',
      )
      const records = await agent.store.getMany(ids)
      for (const r of records) {
        const method = r.destination === 'HTTP_B' ? 'http-tpc' : 'http-stream'
        expect({ state: r.state, method: r.method }, `${r.destinationLfn}: ${r.failureReason}`).toEqual({
          state: 'DONE',
          method,
        })
        expect(await adler32(await readFile(sitePath(B, r.destinationLfn)))).toBe(
          await adler32(data.get(r.destinationLfn)!),
        )
        const { why } = await explainTransfer(agent.store, agent.sites, agent.config, r)
        expect(why).toContain(`(${method})`)
      }
      // the temporary sources are deleted over WebDAV once the copies are done
      await agent.waitFor(
        async () => records.every((r) => !existsSync(sitePath(A, r.sourceLfn))),
        10_000,
        'the sources to be cleaned',
      )
    } finally {
      await agent.stop()
    }
  }, 60_000)
})
