import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Endpoint } from '../../src/domain/endpoint.js'
import type { EngineFile } from '../../src/engines/types.js'
import type { ChildOptions } from '../../src/storage/child-process.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../../src/storage/copy-method.js'
import { StorageRegistry } from '../../src/storage/registry.js'
import { rootProtocol, rootRemoveMany, rootRmdir } from '../../src/storage/xroot/root-protocol.js'
import { xrootMethods, xrootStream, xrootTpc } from '../../src/storage/xroot/xroot-methods.js'
import { putFile, requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'

/** Runs before each storage tool the methods start (none by default): e.g. to pull a directory from under one. */
const beforeChild = vi.hoisted(() => ({
  hook: null as ((command: string, args: readonly string[]) => Promise<void>) | null,
}))

vi.mock('../../src/storage/child-process.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/storage/child-process.js')>()
  return {
    ...original,
    runChild: async (command: string, args: readonly string[], opts?: ChildOptions) => {
      await beforeChild.hook?.(command, args)
      return original.runChild(command, args, opts)
    },
  }
})

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
  more: { owns?: boolean; overwrite?: boolean } = {},
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
    ownsDestination: more.owns ?? true,
  }
  return {
    file,
    source,
    destination,
    signal: signal ?? new AbortController().signal,
    ...(more.overwrite === undefined ? {} : { overwrite: more.overwrite }),
  } satisfies CopyTask
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

/** Every name under a directory of a site (relative, recursive) that is a temporary copy's. */
async function asoPartsUnder(site: XrootdSite, lfnDir: string): Promise<string[]> {
  try {
    const names = await readdir(sitePath(site, lfnDir), { recursive: true })
    return names.filter((n) => n.includes('.aso-part'))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/** The local path of the temporary copy of `lfn` at a site (single or batched), or null when there is none. */
function partPathOf(site: XrootdSite, lfn: string): string | null {
  const dir = sitePath(site, path.posix.dirname(lfn))
  const name = path.posix.basename(lfn)
  let entries: string[]
  try {
    entries = readdirSync(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  for (const e of entries) {
    if (e.startsWith(`.${name}.`) && e.endsWith('.aso-part')) return path.join(dir, e)
    if (e.startsWith('.aso-part-') && existsSync(path.join(dir, e, name))) return path.join(dir, e, name)
  }
  return null
}

/** Size of a local file, or -1 when it is not there. */
function sizeOf(file: string | null): number {
  if (!file) return -1
  try {
    return statSync(file).size
  } catch (err) {
    // gone between the listing and the stat (moved into place, or removed)
    void err
    return -1
  }
}

/**
 * Changes a source's bytes (same size) behind the server's back, keeping its mtime: the server goes on
 * answering the adler32 it cached before, the record's, so the source check passes and the copy's fails.
 */
async function tamperKeepingCachedChecksum(site: XrootdSite, lfn: string): Promise<void> {
  await rootProtocol.adler32(`${site.url}/${lfn}`)
  const file = sitePath(site, lfn)
  const before = await stat(file)
  await writeFile(file, randomBytes(before.size))
  await utimes(file, before.atime, before.mtime)
}

/**
 * Samples a destination every 10 ms while `running` runs: whether the final name and the temporary copy
 * exist, and the final's size.
 */
async function watchDestination<T>(site: XrootdSite, lfn: string, running: Promise<T>) {
  const samples: { final: number; part: number }[] = []
  let done = false
  const finished = running.finally(() => {
    done = true
  })
  while (!done) {
    samples.push({
      final: sizeOf(sitePath(site, lfn)),
      part: sizeOf(partPathOf(site, lfn)),
    })
    await new Promise((r) => setTimeout(r, 10))
  }
  return { result: await finished, samples }
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
    // the copies went through temporary names, and none is left
    expect(await asoPartsUnder(B, `${DEST}/batch`)).toEqual([])
    expect(await asoPartsUnder(B, `${DEST}/single`)).toEqual([])
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

  it('an abort during a copy kills it and leaves no file at B, under its final name or a temporary one', async () => {
    const rec = await stageAtA(`${TEMP}/abort/big.root`, Buffer.alloc(384 * 1024 * 1024, 7))
    const lfn = `${DEST}/abort/big_renamed.root`
    const ac = new AbortController()
    const t = task(rootEp(A, `${TEMP}/abort/big.root`), rootEp(B, lfn), rec, ac.signal)
    const running = runMethod(xrootTpc, [t])
    // the copy is written under a temporary name
    await waitFor(() => sizeOf(partPathOf(B, lfn)) > 0, 20_000)
    expect(existsSync(sitePath(B, lfn))).toBe(false)
    ac.abort()
    const { results, ms } = await running
    expect(failure(results.get(t))).toBe('TRANSFER [125] Transfer aborted')
    expect(ms).toBeLessThan(10_000)
    expect(existsSync(sitePath(B, lfn))).toBe(false)
    expect(await asoPartsUnder(B, `${DEST}/abort`)).toEqual([])
    await new Promise((r) => setTimeout(r, 1000))
    expect(existsSync(sitePath(B, lfn)), 'the server did not finish the copy after the kill').toBe(false)
    expect(await asoPartsUnder(B, `${DEST}/abort`)).toEqual([])
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
    // batched: written into the call's temporary directory
    await waitFor(() => (partPathOf(B, `${DEST}/abort2/big.root`) ?? '').includes('/.aso-part-'), 20_000)
    expect(existsSync(sitePath(B, `${DEST}/abort2/big.root`))).toBe(false)
    ac.abort()
    const { results } = await running
    expect(failure(results.get(tBig))).toBe('TRANSFER [125] Transfer aborted')
    expect(results.get(tSmall)?.ok).toBe(true)
    expect(existsSync(sitePath(B, `${DEST}/abort2/big.root`))).toBe(false)
    await expectAtB(`${DEST}/abort2/small.root`, small)
    expect(await asoPartsUnder(B, `${DEST}/abort2`)).toEqual([])
  })

  it('never shows a file under its final name before it is verified (single and batched copies)', async () => {
    const size = 64 * 1024 * 1024
    const recs = await Promise.all(
      ['single.root', 'b1.root', 'b2.root'].map((n, i) =>
        stageAtA(`${TEMP}/visible/${n}`, Buffer.alloc(size, 11 + i)),
      ),
    )
    const single = `${DEST}/visible/single_renamed.root`
    const b1 = `${DEST}/visible/b1.root`
    const tasks = [
      task(rootEp(A, `${TEMP}/visible/single.root`), rootEp(B, single), recs[0]!),
      task(rootEp(A, `${TEMP}/visible/b1.root`), rootEp(B, b1), recs[1]!),
      task(rootEp(A, `${TEMP}/visible/b2.root`), rootEp(B, `${DEST}/visible/b2.root`), recs[2]!),
    ]
    const running = runMethod(xrootTpc, tasks)
    const [s, b] = await Promise.all([watchDestination(B, single, running), watchDestination(B, b1, running)])
    for (const t of tasks) expect(s.result.results.get(t)?.ok, t.destination.url).toBe(true)
    for (const { samples } of [s, b]) {
      // seen while the copy ran under its temporary name only, and whole whenever seen under its final name
      expect(samples.some((x) => x.part > 0 && x.final < 0)).toBe(true)
      expect(samples.filter((x) => x.final >= 0 && x.final !== size)).toEqual([])
    }
    expect(await asoPartsUnder(B, `${DEST}/visible`)).toEqual([])
  })

  it('a copy that fails its checksum leaves nothing behind, batched or single', async () => {
    const names = ['bad.root', 'good.root', 'lone.root']
    const recs = await Promise.all(names.map((n) => stageAtA(`${TEMP}/cksum/${n}`, randomBytes(20_000))))
    await tamperKeepingCachedChecksum(A, `${TEMP}/cksum/bad.root`)
    await tamperKeepingCachedChecksum(A, `${TEMP}/cksum/lone.root`)
    const bad = `${DEST}/cksum/bad.root`
    const lone = `${DEST}/cksum/lone_renamed.root`
    const tBad = task(rootEp(A, `${TEMP}/cksum/bad.root`), rootEp(B, bad), recs[0]!)
    const tGood = task(rootEp(A, `${TEMP}/cksum/good.root`), rootEp(B, `${DEST}/cksum/good.root`), recs[1]!)
    const tLone = task(rootEp(A, `${TEMP}/cksum/lone.root`), rootEp(B, lone), recs[2]!)
    const running = runMethod(xrootTpc, [tBad, tGood, tLone])
    const [w1, w2] = await Promise.all([
      watchDestination(B, bad, running),
      watchDestination(B, lone, running),
    ])
    const { results } = w1.result
    expect(failure(results.get(tBad))).toMatch(/checksum/i)
    expect(failure(results.get(tLone))).toMatch(/checksum/i)
    expect(results.get(tGood)?.ok).toBe(true)
    // the bad copies were never visible under their final names, and are gone
    for (const w of [w1, w2]) expect(w.samples.filter((x) => x.final >= 0)).toEqual([])
    expect(existsSync(sitePath(B, bad))).toBe(false)
    expect(existsSync(sitePath(B, lone))).toBe(false)
    expect(await asoPartsUnder(B, `${DEST}/cksum`)).toEqual([])
  })

  it('falls back to a streamed copy when the destination does not support TPC', async () => {
    const rec = await stageAtA(`${TEMP}/notpc/out.root`, randomBytes(7000))
    const t = task(rootEp(A, `${TEMP}/notpc/out.root`), rootEp(C, `${DEST}/notpc/out.root`), rec)
    const { results } = await runMethod(xrootTpc, [t])
    expect(results.get(t)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    expect(await adler32(await readFile(sitePath(C, `${DEST}/notpc/out.root`)))).toBe(rec.adler32)
  })
})

describe('temporary copies of earlier runs', () => {
  /** Plants what killed runs would have left in `dir` at B; returns the names, relative to `dir`. */
  async function plantLeftovers(dir: string) {
    const planted = {
      // ours: temporary copies of the files the run copies, alone or in a dead batch's directory
      ours: [
        '.out_0.root.0badc0de.aso-part',
        '.renamed.root.1234abcd.aso-part',
        '.aso-part-00000002cccccccc/out_1.root',
      ],
      // dead batches' directories, empty (their copies failed, and autorm removed them)
      empty: ['.aso-part-00000001aaaaaaaa', '.aso-part-0000000bbbbbbbbb'],
      // not ours: another file's temporary copies, alone or in a batch's directory
      others: ['.other.root.0badc0de.aso-part', '.aso-part-00000003dddddddd/other.root'],
    }
    for (const f of [...planted.ours, ...planted.others]) await putFile(B, `${dir}/${f}`, randomBytes(100))
    for (const d of planted.empty) await rootProtocol.mkdirs(`${B.url}/${dir}/${d}`)
    return planted
  }

  /** The names `others` leave in a recursive listing: a file in a directory lists the directory too. */
  const listed = (names: string[]) =>
    names.flatMap((n) => (n.includes('/') ? [n.split('/')[0]!, n] : [n])).sort()

  async function copyInto(dir: string, owns: boolean) {
    const tasks: CopyTask[] = []
    for (const [i, name] of ['out_0.root', 'out_1.root', 'out_2.root'].entries()) {
      const rec = await stageAtA(`${TEMP}/stale/${name}`, randomBytes(3000 + i))
      const target = i === 2 ? 'renamed.root' : name
      tasks.push(
        task(rootEp(A, `${TEMP}/stale/${name}`), rootEp(B, `${dir}/${target}`), rec, undefined, { owns }),
      )
    }
    const { results } = await runMethod(xrootTpc, tasks)
    for (const t of tasks) expect(results.get(t)?.ok, failureOrOk(results.get(t))).toBe(true)
  }

  const failureOrOk = (r: CopyResult | undefined) => (r && !r.ok ? r.reason : 'ok')

  it('removes those of the files a run owns before it copies, and leaves the rest alone', async () => {
    const dir = `${DEST}/stale`
    const planted = await plantLeftovers(dir)
    const everything = [...planted.ours, ...planted.empty, ...planted.others].sort()
    const present = async () =>
      (await readdir(sitePath(B, dir), { recursive: true })).filter((n) => n.includes('.aso-part')).sort()

    // a first attempt does not own its destination: nothing of earlier runs is its to remove
    await copyInto(dir, false)
    expect((await present()).filter((n) => everything.includes(n))).toEqual(everything)

    await copyInto(dir, true)
    expect(await present()).toEqual(listed(planted.others))
  })

  it('the killer removes a killed root:// attempt: the file, its temporary copies, a dead batch directory', async () => {
    const dir = `${DEST}/killed`
    const planted = await plantLeftovers(dir)
    await putFile(B, `${dir}/out_0.root`, randomBytes(10))
    const storage = new StorageRegistry()
    await storage.removeAttemptLeftovers([rootEp(B, `${dir}/out_0.root`), rootEp(B, `${dir}/out_1.root`)])
    const left = (await readdir(sitePath(B, dir), { recursive: true })).sort()
    expect(left).toEqual(listed(['.renamed.root.1234abcd.aso-part', ...planted.others]))
  })

  it("copies a batch again when another run's clean-up removed its empty directory before xrdcp looked", async () => {
    const names = ['l0.root', 'l1.root']
    const recs = await Promise.all(names.map((n) => stageAtA(`${TEMP}/lost/${n}`, randomBytes(5000))))
    const tasks = names.map((n, i) =>
      task(rootEp(A, `${TEMP}/lost/${n}`), rootEp(B, `${DEST}/lost/${n}`), recs[i]!),
    )
    const batchCalls: string[] = []
    beforeChild.hook = async (command, args) => {
      const target = args.at(-1) ?? ''
      if (command !== 'xrdcp' || !/\/\.aso-part-[0-9a-f]{16}\/$/.test(target)) return
      batchCalls.push(target)
      // what removeRootLeftovers of a run owning other files of the directory does to an empty batch directory
      if (batchCalls.length === 1) await rootRmdir(target.slice(0, -1))
    }
    try {
      const { results } = await runMethod(xrootTpc, tasks)
      for (const [i, t] of tasks.entries()) {
        expect(results.get(t)).toEqual({ ok: true, bytes: recs[i]!.size, verified: recs[i] })
      }
    } finally {
      beforeChild.hook = null
    }
    expect(batchCalls.length).toBe(2)
    expect(batchCalls[0]).not.toBe(batchCalls[1])
    expect(await asoPartsUnder(B, `${DEST}/lost`)).toEqual([])
  })

  it('moves a verified copy onto an existing file only when the job may overwrite it', async () => {
    const rec = await stageAtA(`${TEMP}/exists/out.root`, randomBytes(4000))
    const old = randomBytes(50)
    await putFile(B, `${DEST}/exists/keep/out.root`, old)
    await putFile(B, `${DEST}/exists/replace/out.root`, old)
    const src = rootEp(A, `${TEMP}/exists/out.root`)
    const keep = task(src, rootEp(B, `${DEST}/exists/keep/out.root`), rec, undefined, { owns: false })
    const replace = task(src, rootEp(B, `${DEST}/exists/replace/out.root`), rec, undefined, {
      owns: false,
      overwrite: true,
    })
    const { results } = await runMethod(xrootTpc, [keep, replace])
    expect(failure(results.get(keep))).toBe(
      'DESTINATION [17] Destination file exists and overwrite is not enabled',
    )
    expect((await readFile(sitePath(B, `${DEST}/exists/keep/out.root`))).equals(old)).toBe(true)
    expect(results.get(replace)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    await expectAtB(`${DEST}/exists/replace/out.root`, rec)
    expect(await asoPartsUnder(B, `${DEST}/exists`)).toEqual([])
  })
})

describe('xroot-stream', () => {
  it('copies root -> file and file -> root', async () => {
    const rec = await stageAtA(`${TEMP}/stream/out.root`, randomBytes(3 * 1024 * 1024 + 17))
    const local = path.join(base, 'local', 'deep', 'dir', 'out.root')
    // an earlier run's temporary copy, which this run (owning the destination) removes
    await mkdir(path.dirname(local), { recursive: true })
    await writeFile(path.join(path.dirname(local), '.out.root.0badc0de.aso-part'), 'partial')
    const down = task(rootEp(A, `${TEMP}/stream/out.root`), fileEp(local), rec)
    const r1 = await runMethod(xrootStream, [down])
    expect(r1.results.get(down)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    expect(await adler32(await readFile(local))).toBe(rec.adler32)
    expect(await readdir(path.dirname(local))).toEqual(['out.root'])

    const up = task(fileEp(local), rootEp(B, `${DEST}/stream/up/out.root`), rec)
    const r2 = await runMethod(xrootStream, [up])
    expect(r2.results.get(up)).toEqual({ ok: true, bytes: rec.size, verified: rec })
    await expectAtB(`${DEST}/stream/up/out.root`, rec)
    expect(await asoPartsUnder(B, `${DEST}/stream`)).toEqual([])
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
    expect(await asoPartsUnder(B, `${DEST}/stream`)).toEqual([])
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
    // several at once: files already gone are no error (xrdfs then exits with the last one's code)
    await putFile(A, `${TEMP}/proto/g.root`, randomBytes(10))
    const paths = ['f.root', 'g.root', 'none.root'].map((n) => `${TEMP}/proto/${n}`)
    await expect(rootRemoveMany(A.url, paths)).resolves.toBeUndefined()
    expect(existsSync(sitePath(A, `${TEMP}/proto/g.root`))).toBe(false)
    await expect(rootRemoveMany(A.url, paths.slice(0, 1).concat(paths.slice(2)))).resolves.toBeUndefined()
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
