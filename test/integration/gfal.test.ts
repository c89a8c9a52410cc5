/**
 * The gfal2 fallback: `gfal-copy` with mock:// URLs whose planted errnos must classify as FTS's reasons do, and a
 * real file:// -> root:// copy through the engine. Needs gfal2-util-scripts, python3-gfal2-util and the
 * gfal2-plugin-{file,xrootd,http,mock} packages; run inside a private network namespace (scripts/test.sh).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Endpoint } from '../../src/domain/endpoint.js'
import { classify } from '../../src/domain/failures.js'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { LocalEngine } from '../../src/engines/local/engine.js'
import type { EngineFile } from '../../src/engines/types.js'
import { runChild } from '../../src/storage/child-process.js'
import type { CopyResult, CopyTask } from '../../src/storage/copy-method.js'
import { gfalCopy, gfalCopyArgs, gfalCopyWith } from '../../src/storage/gfal/gfal-copy.js'
import { gfalProtocol } from '../../src/storage/gfal/gfal-protocol.js'
import { requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'

let base: string
let X: XrootdSite
let serial = 0

/** Throws, naming the Debian packages, when the gfal2 tools or the plugins these tests use are missing. */
async function requireGfal(): Promise<void> {
  const r = await runChild('gfal-stat', ['mock://mock.example/probe?size=1'], { timeoutMs: 30_000 })
  if (r.code !== 0) {
    throw new Error(
      `gfal2 tools unusable (gfal-stat exit ${r.code}: ${r.stderr.trim().split('\n').at(-1)}): install the Debian ` +
        'packages gfal2 gfal2-util-scripts python3-gfal2-util gfal2-plugin-file gfal2-plugin-xrootd gfal2-plugin-mock ' +
        '(scripts/install-peers.sh does it)',
    )
  }
}

beforeAll(async () => {
  requireXrootd()
  await requireGfal()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-gfal-'))
  X = await startXrootdSite({ name: 'GFAL_X', baseDir: base })
})

afterAll(async () => {
  await X?.stop()
  if (base) await rm(base, { recursive: true, force: true })
})

const ep = (url: string): Endpoint => ({ scheme: url.slice(0, url.indexOf(':')), url })

function engineFile(
  source: Endpoint,
  destination: Endpoint,
  rec: { size: number; adler32: string },
): EngineFile {
  serial++
  return {
    transferId: `g${serial}`,
    attempt: 1,
    submission: 1,
    task: '260101_000000:alice_crab_gfal',
    sources: [source],
    destinations: [destination],
    size: rec.size,
    adler32: rec.adler32,
    activity: 'user',
    priority: 3,
    ownsDestination: true,
  }
}

function task(src: string, dst: string, rec = { size: 1000, adler32: '0badc0de' }): CopyTask {
  const file = engineFile(ep(src), ep(dst), rec)
  return {
    file,
    source: file.sources[0]!,
    destination: file.destinations[0]!,
    signal: new AbortController().signal,
  }
}

async function run(method = gfalCopy, tasks: CopyTask[]): Promise<Map<CopyTask, CopyResult>> {
  const results = new Map<CopyTask, CopyResult>()
  await method.run(tasks, { concurrency: tasks.length, env: {} }, (t, r) => results.set(t, r))
  expect(results.size).toBe(tasks.length)
  return results
}

describe('gfal-copy through mock:// storage', () => {
  // mock:// parameters (docs/storage-notes.md §3): `errno` fails the stat, `transfer_errno` the copy after
  // its first second, `checksum` is what the storage reports; each file's source says adler32 0badc0de
  const SRC = 'mock://mock.example/temp/out.root?size=1000&checksum=0badc0de'
  const dst = (params: string) => `mock://mock.example/user/out.root?errno=2&checksum=0badc0de&${params}`
  // each planted failure, the FTS reason it stands for (test/fixtures/failure-reasons.tsv), and the class
  const cases: { name: string; src: string; dst: string; reason: RegExp; fts: string }[] = [
    {
      name: 'a missing source',
      src: 'mock://mock.example/temp/gone.root?errno=2',
      dst: dst('time=0'),
      reason: /^SOURCE \[2\] gfal-copy: Could not stat the source: No such file or directory$/,
      fts: 'SOURCE [2] Result HTTP 404 : File not found  after 1 attempts',
    },
    {
      name: 'an unreadable source',
      src: 'mock://mock.example/temp/locked.root?errno=13',
      dst: dst('time=0'),
      reason: /^SOURCE \[13\] gfal-copy: Could not stat the source: Permission denied$/,
      fts: 'SOURCE [1] HTTP 403 : Permission refused',
    },
    {
      name: 'a destination that refuses the write',
      src: SRC,
      dst: dst('time=2&transfer_errno=13'),
      reason: /^TRANSFER \[13\] gfal-copy: Permission denied$/,
      fts: 'DESTINATION [13] Permission denied',
    },
    {
      name: 'a full destination',
      src: SRC,
      dst: dst('time=2&transfer_errno=28'),
      reason: /^TRANSFER \[28\] gfal-copy: No space left on device$/,
      fts: 'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 507 : Insufficient Storage',
    },
    {
      name: 'a destination over quota',
      src: SRC,
      dst: dst('time=2&transfer_errno=122'),
      reason: /^TRANSFER \[122\] gfal-copy: Disk quota exceeded$/,
      fts: 'DESTINATION [28] Disk quota exceeded',
    },
    {
      name: 'a copy that timed out',
      src: SRC,
      dst: dst('time=2&transfer_errno=110'),
      reason: /^TRANSFER \[110\] gfal-copy: Connection timed out$/,
      fts: 'TRANSFER [110] TRANSFER  Operation timed out',
    },
    {
      name: 'a source that is not what the job recorded',
      src: 'mock://mock.example/temp/other.root?size=1000&checksum=12345678',
      dst: dst('time=0'),
      reason: /^SOURCE \[5\] Source and user-defined ADLER32 checksum do not match \(gfal-copy: /,
      fts: 'SOURCE [5] Source and user-defined ADLER32 checksum do not match (0badc0de != 12345678)',
    },
    {
      name: 'a destination copy that differs from the source',
      src: SRC,
      dst: 'mock://mock.example/user/out.root?errno=2&time=0&checksum=87654321',
      reason: /^TRANSFER \[5\] gfal-copy: Source and destination checksums do not match$/,
      fts: 'TRANSFER [5] TRANSFER CHECKSUM MISMATCH Source and destination checksums do not match 0badc0de != 87654321',
    },
  ]

  it('reports each planted errno in the FTS form, classified as the FTS reason is', async () => {
    const tasks = cases.map((c) => task(c.src, c.dst))
    const started = performance.now()
    const results = await run(gfalCopy, tasks)
    console.log(
      `gfal-copy: ${cases.length} mock copies side by side in ${Math.round(performance.now() - started)} ms`,
    )
    cases.forEach((c, i) => {
      const r = results.get(tasks[i]!)
      expect(r?.ok, c.name).toBe(false)
      const reason = r && !r.ok ? r.reason : ''
      expect(reason, c.name).toMatch(c.reason)
      expect({ case: c.name, class: classify(reason).class }).toEqual({
        case: c.name,
        class: classify(c.fts).class,
      })
    })
  })

  it('succeeds for a good mock copy and asks for the checksum the job recorded', async () => {
    const t = task(SRC, dst('time=0'))
    expect((await run(gfalCopy, [t])).get(t)).toEqual({ ok: true, bytes: 1000 })
    expect(gfalCopyArgs(t)).toEqual(['-f', '-p', '-K', 'ADLER32:0badc0de', t.source.url, t.destination.url])
  })

  it('kills a copy that outlives its time limit and reports a timeout the agent retries', async () => {
    const slow = gfalCopyWith({ timeoutMs: () => 1500 })
    const t = task(SRC, dst('time=30'))
    const started = performance.now()
    const r = (await run(slow, [t])).get(t)
    const took = performance.now() - started
    expect(r).toEqual({ ok: false, reason: 'TRANSFER [110] gfal-copy killed after 1.5 s' })
    expect(classify(r && !r.ok ? r.reason : '').class).toBe('transient')
    // killed at 1.5 s, plus the gfal-rm of the leftover, not after the mock's 30 s
    expect(took).toBeLessThan(5000)
  })

  it('stats, checksums and removes through gfal-stat, gfal-sum and gfal-rm', async () => {
    expect(await gfalProtocol.stat('mock://mock.example/f?size=1234')).toEqual({
      size: 1234,
      isDirectory: false,
    })
    expect(await gfalProtocol.stat('mock://mock.example/f?errno=2')).toBeNull()
    await expect(gfalProtocol.stat('mock://mock.example/f?errno=13', { scope: 'SOURCE' })).rejects.toThrow(
      /^SOURCE \[13\] gfal-stat: /,
    )
    expect(await gfalProtocol.adler32('mock://mock.example/f?size=10&checksum=00abcdef')).toBe('00abcdef')
    await expect(gfalProtocol.remove('mock://mock.example/f?size=10')).resolves.toBeUndefined()
    await expect(gfalProtocol.remove('mock://mock.example/f?errno=2')).resolves.toBeUndefined()
  })
})

describe('gfal-copy between real storages', () => {
  it('copies file:// -> root:// end to end through the engine, verified at the XRootD site', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 5)
    const local = path.join(base, 'local', 'out.root')
    await mkdir(path.dirname(local), { recursive: true })
    await writeFile(local, data)
    const rec = { size: data.length, adler32: await adler32(data) }
    const lfn = '/store/user/alice/gfal/deep/out.root'
    const file = engineFile({ scheme: 'file', url: pathToFileURL(local).href }, ep(`${X.url}/${lfn}`), rec)
    // only gfal-copy: the engine would otherwise prefer xroot-stream for this pair
    const engine = new LocalEngine({
      maxConcurrent: 2,
      copyTimeoutMs: 60_000,
      batchSize: 8,
      methods: [gfalCopy],
    })
    const outcomes: FileOutcome[] = []
    const collecting = (async () => {
      for await (const o of engine.outcomes()) outcomes.push(o)
    })()
    await engine.submit({
      id: 'gfal-job-1',
      user: 'alice',
      group: null,
      role: null,
      source: 'LOCAL',
      destination: 'GFAL_X',
      files: [file],
      priority: 3,
      overwrite: false,
      maxActive: 2,
    })
    const until = Date.now() + 30_000
    while (outcomes.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    await engine.close()
    await collecting
    expect(outcomes).toEqual([
      expect.objectContaining({
        result: 'done',
        method: 'gfal-copy',
        bytes: rec.size,
        reason: 'copied by gfal-copy, size and adler32 verified',
      }),
    ])
    const copied = await readFile(sitePath(X, lfn))
    expect(await adler32(copied)).toBe(rec.adler32)
  })
})
