import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../../src/engines/local/copy-method.js'
import { rootProtocol } from '../../src/engines/local/root-protocol.js'
import { xrootMethods, xrootStream, xrootTpc } from '../../src/engines/local/xroot-methods.js'
import type { Endpoint, EngineFile } from '../../src/engines/types.js'
import { putFile, requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'

const TEMP = '/store/temp/user/alice.1234'
const DEST = '/store/user/alice'

let base: string
let A: XrootdSite
let B: XrootdSite
/** a site without third-party copy: answers [3013] tpc not supported */
let C: XrootdSite
let serial = 0

beforeAll(async () => {
  requireXrootd()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-xrootd-'))
  ;[A, B, C] = await Promise.all([
    startXrootdSite({ name: 'A', baseDir: base }),
    startXrootdSite({ name: 'B', baseDir: base }),
    startXrootdSite({ name: 'C', baseDir: base, tpc: false }),
  ])
})

afterAll(async () => {
  await Promise.all([A?.stop(), B?.stop(), C?.stop()])
  if (base) await rm(base, { recursive: true, force: true })
})

const rootEp = (site: XrootdSite, lfn: string): Endpoint => ({ scheme: 'root', url: `${site.url}/${lfn}` })
const fileEp = (p: string): Endpoint => ({ scheme: 'file', url: pathToFileURL(p).href })

function task(
  source: Endpoint,
  destination: Endpoint,
  data: { size: number; adler32: string },
  signal?: AbortSignal,
) {
  serial++
  const file: EngineFile = {
    transferId: `t${serial}`,
    attempt: 1,
    submission: 1,
    task: '260101_000000:alice_crab_test',
    sources: [source],
    destinations: [destination],
    size: data.size,
    adler32: data.adler32,
    activity: 'user',
    priority: 3,
    ownsDestination: true,
  }
  return { file, source, destination, signal: signal ?? new AbortController().signal } satisfies CopyTask
}

/** Writes `data` into site A's temporary area; returns what the job would have recorded. */
async function stageAtA(lfn: string, data: Buffer): Promise<{ size: number; adler32: string }> {
  await putFile(A, lfn, data)
  return { size: data.length, adler32: await adler32(data) }
}

async function runMethod(method: CopyMethod, tasks: CopyTask[], concurrency = 8) {
  const results = new Map<CopyTask, CopyResult>()
  const ctx: CopyContext = { concurrency, env: {} }
  const started = performance.now()
  await method.run(tasks, ctx, (t, r) => {
    expect(results.has(t), `reported twice: ${t.destination.url}`).toBe(false)
    results.set(t, r)
  })
  expect(results.size).toBe(tasks.length)
  return { results, ms: Math.round(performance.now() - started) }
}

async function expectAtB(lfn: string, expected: { size: number; adler32: string }): Promise<void> {
  const data = await readFile(sitePath(B, lfn))
  expect(data.length).toBe(expected.size)
  expect(await adler32(data)).toBe(expected.adler32)
}

function failure(r: CopyResult | undefined): string {
  expect(r?.ok).toBe(false)
  return r && !r.ok ? r.reason : ''
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('xroot-tpc', () => {
  it('copies 20 files in one batch and 5 renamed files in single calls, with the right adler32', async () => {
    const batch: CopyTask[] = []
    const expected = new Map<CopyTask, { lfn: string; size: number; adler32: string }>()
    for (let i = 0; i < 20; i++) {
      const name = `out_${i}.root`
      const rec = await stageAtA(`${TEMP}/batch/${name}`, randomBytes(1000 + i * 5000))
      const t = task(rootEp(A, `${TEMP}/batch/${name}`), rootEp(B, `${DEST}/batch/${name}`), rec)
      batch.push(t)
      expected.set(t, { lfn: `${DEST}/batch/${name}`, ...rec })
    }
    const singles: CopyTask[] = []
    for (let i = 0; i < 5; i++) {
      const rec = await stageAtA(`${TEMP}/single/out_${i}.root`, randomBytes(2000 + i))
      const lfn = `${DEST}/single/sub${i}/renamed_${i}.root`
      const t = task(rootEp(A, `${TEMP}/single/out_${i}.root`), rootEp(B, lfn), rec)
      singles.push(t)
      expected.set(t, { lfn, ...rec })
    }

    const b = await runMethod(xrootTpc, batch, 20)
    const s = await runMethod(xrootTpc, singles, 5)
    console.log(`xroot-tpc: batch of 20 files ${b.ms} ms; 5 single calls (concurrent) ${s.ms} ms`)

    for (const [t, r] of [...b.results, ...s.results]) {
      const exp = expected.get(t)!
      expect(r, t.destination.url).toEqual({
        ok: true,
        bytes: exp.size,
        verified: { size: exp.size, adler32: exp.adler32 },
      })
      await expectAtB(exp.lfn, exp)
    }
    // one call of 20 (2.5 s poll floor), not 20 calls one after another (50 s)
    expect(b.ms).toBeLessThan(20_000)
  })

  it('fails a missing source with SOURCE [2] and writes nothing', async () => {
    const t = task(rootEp(A, `${TEMP}/missing/nope.root`), rootEp(B, `${DEST}/missing/nope.root`), {
      size: 10,
      adler32: '0badc0de',
    })
    const { results } = await runMethod(xrootTpc, [t])
    expect(failure(results.get(t))).toMatch(/^SOURCE \[2\] .*\[3011\]/)
    expect(existsSync(sitePath(B, `${DEST}/missing/nope.root`))).toBe(false)
  })

  it('fails a source that does not match the record with SOURCE [5] and leaves no file at B', async () => {
    const rec = await stageAtA(`${TEMP}/corrupt/out.root`, randomBytes(5000))
    const wrong = rec.adler32 === '12345678' ? '87654321' : '12345678'
    const t1 = task(rootEp(A, `${TEMP}/corrupt/out.root`), rootEp(B, `${DEST}/corrupt/out.root`), {
      size: rec.size,
      adler32: wrong,
    })
    const { results } = await runMethod(xrootTpc, [t1])
    expect(failure(results.get(t1))).toBe(
      `SOURCE [5] Source and user-defined ADLER32 checksum do not match (${wrong} != ${rec.adler32})`,
    )
    expect(existsSync(sitePath(B, `${DEST}/corrupt/out.root`))).toBe(false)
  })

  it('an abort during a copy kills it and leaves no file at B', async () => {
    const rec = await stageAtA(`${TEMP}/abort/big.root`, Buffer.alloc(384 * 1024 * 1024, 7))
    const lfn = `${DEST}/abort/big_renamed.root`
    const ac = new AbortController()
    const t = task(rootEp(A, `${TEMP}/abort/big.root`), rootEp(B, lfn), rec, ac.signal)
    const running = runMethod(xrootTpc, [t])
    await waitFor(() => existsSync(sitePath(B, lfn)), 20_000)
    ac.abort()
    const { results, ms } = await running
    expect(failure(results.get(t))).toBe('TRANSFER [125] Transfer aborted')
    expect(ms).toBeLessThan(10_000)
    expect(existsSync(sitePath(B, lfn))).toBe(false)
    await new Promise((r) => setTimeout(r, 1000))
    expect(existsSync(sitePath(B, lfn)), 'the server did not finish the copy after the kill').toBe(false)
  })

  it('an abort of one file of a batch reports it aborted, removes it and still copies the others', async () => {
    const big = await stageAtA(`${TEMP}/abort2/big.root`, Buffer.alloc(384 * 1024 * 1024, 9))
    const small = await stageAtA(`${TEMP}/abort2/small.root`, randomBytes(3000))
    const ac = new AbortController()
    const tBig = task(
      rootEp(A, `${TEMP}/abort2/big.root`),
      rootEp(B, `${DEST}/abort2/big.root`),
      big,
      ac.signal,
    )
    const tSmall = task(rootEp(A, `${TEMP}/abort2/small.root`), rootEp(B, `${DEST}/abort2/small.root`), small)
    const running = runMethod(xrootTpc, [tBig, tSmall])
    await waitFor(() => existsSync(sitePath(B, `${DEST}/abort2/big.root`)), 20_000)
    ac.abort()
    const { results } = await running
    expect(failure(results.get(tBig))).toBe('TRANSFER [125] Transfer aborted')
    expect(results.get(tSmall)?.ok).toBe(true)
    expect(existsSync(sitePath(B, `${DEST}/abort2/big.root`))).toBe(false)
    await expectAtB(`${DEST}/abort2/small.root`, small)
  })

  it('falls back to a streamed copy when the destination does not support TPC', async () => {
    const rec = await stageAtA(`${TEMP}/notpc/out.root`, randomBytes(7000))
    const t = task(rootEp(A, `${TEMP}/notpc/out.root`), rootEp(C, `${DEST}/notpc/out.root`), rec)
    const { results } = await runMethod(xrootTpc, [t])
    expect(results.get(t)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    expect(await adler32(await readFile(sitePath(C, `${DEST}/notpc/out.root`)))).toBe(rec.adler32)
  })
})

describe('xroot-stream', () => {
  it('copies root -> file and file -> root', async () => {
    const rec = await stageAtA(`${TEMP}/stream/out.root`, randomBytes(3 * 1024 * 1024 + 17))
    const local = path.join(base, 'local', 'deep', 'dir', 'out.root')
    const down = task(rootEp(A, `${TEMP}/stream/out.root`), fileEp(local), rec)
    const r1 = await runMethod(xrootStream, [down])
    expect(r1.results.get(down)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    expect(await adler32(await readFile(local))).toBe(rec.adler32)

    const up = task(fileEp(local), rootEp(B, `${DEST}/stream/up/out.root`), rec)
    const r2 = await runMethod(xrootStream, [up])
    expect(r2.results.get(up)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    await expectAtB(`${DEST}/stream/up/out.root`, rec)
  })

  it('fails a local source that does not match the record and leaves nothing at the destination', async () => {
    const local = path.join(base, 'local', 'bad.root')
    await mkdir(path.dirname(local), { recursive: true })
    const data = randomBytes(4000)
    await writeFile(local, data)
    const t = task(fileEp(local), rootEp(B, `${DEST}/stream/bad.root`), {
      size: data.length,
      adler32: '00000001',
    })
    const { results } = await runMethod(xrootStream, [t])
    expect(failure(results.get(t))).toMatch(
      /^SOURCE \[5\] Source and user-defined ADLER32 checksum do not match/,
    )
    expect(existsSync(sitePath(B, `${DEST}/stream/bad.root`))).toBe(false)
  })

  it('is offered for the right pairs of schemes', () => {
    expect(xrootMethods().map((m) => [m.name, m.rank])).toEqual([
      ['xroot-tpc', 20],
      ['xroot-stream', 30],
    ])
    expect(xrootTpc.supports('root', 'root')).toBe(true)
    expect(xrootTpc.supports('root', 'file')).toBe(false)
    expect(xrootStream.supports('file', 'xroot')).toBe(true)
    expect(xrootStream.supports('root', 'file')).toBe(true)
    expect(xrootStream.supports('file', 'file')).toBe(false)
    expect(xrootStream.supports('davs', 'root')).toBe(false)
  })
})

describe('root protocol handler', () => {
  it('stats, checksums, removes and creates directories', async () => {
    const data = randomBytes(12_345)
    const rec = await stageAtA(`${TEMP}/proto/f.root`, data)
    const url = `${A.url}/${TEMP}/proto/f.root`
    expect(await rootProtocol.stat(url)).toEqual({ size: rec.size, isDirectory: false })
    // a single slash after the host works too
    expect(await rootProtocol.stat(`${A.url}${TEMP}/proto`)).toEqual({
      size: expect.any(Number),
      isDirectory: true,
    })
    expect(await rootProtocol.stat(`${A.url}/${TEMP}/proto/none.root`)).toBeNull()
    expect(await rootProtocol.adler32(url)).toBe(rec.adler32)
    await expect(
      rootProtocol.adler32(`${A.url}/${TEMP}/proto/none.root`, { scope: 'SOURCE' }),
    ).rejects.toThrow(/^SOURCE \[2\] \[ERROR\] Server responded with an error: \[3011\]/)
    await rootProtocol.remove(url)
    expect(existsSync(sitePath(A, `${TEMP}/proto/f.root`))).toBe(false)
    await expect(rootProtocol.remove(url)).resolves.toBeUndefined()
    await rootProtocol.mkdirs(`xroot://127.0.0.1:${B.port}//store/user/alice/made/a/b`)
    expect(await rootProtocol.stat(`${B.url}//store/user/alice/made/a/b`)).toMatchObject({
      isDirectory: true,
    })
  })
})

describe('a destination server that stops', () => {
  it('fails fast with errno 111 or 110 while stopped, and copies after a restart', async () => {
    const rec = await stageAtA(`${TEMP}/down/out.root`, randomBytes(2500))
    const lfn = `${DEST}/down/out_renamed.root`
    await B.stop()
    const t1 = task(rootEp(A, `${TEMP}/down/out.root`), rootEp(B, lfn), rec)
    const down = await runMethod(xrootTpc, [t1])
    console.log(`stopped destination: ${failure(down.results.get(t1))} (${down.ms} ms)`)
    expect(failure(down.results.get(t1))).toMatch(/^(TRANSFER|DESTINATION) \[(111|110)\] /)
    expect(down.ms).toBeLessThan(15_000)

    await B.restart()
    const t2 = task(rootEp(A, `${TEMP}/down/out.root`), rootEp(B, lfn), rec)
    const up = await runMethod(xrootTpc, [t2])
    expect(up.results.get(t2)?.ok).toBe(true)
    await expectAtB(lfn, rec)
  })
})
