/**
 * The whole agent (SQLite store, real loops, the built-in engine) against two real XRootD servers on loopback,
 * sites XRD_A and XRD_B serving root:// only. Run inside a private network namespace (scripts/test.sh):
 *   unshare -n -- bash -c 'ip link set lo up && npx vitest run test/integration/xrootd-agent.test.ts'
 * One agent serves every scenario; each scenario has its own task and waits on its own ids.
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { requestContext } from '../../src/cli/app.js'
import type { Identity } from '../../src/domain/identity.js'
import { validateRequest } from '../../src/domain/request.js'
import { TERMINAL_STATES, type TransferState } from '../../src/domain/states.js'
import type { TransferRecord } from '../../src/domain/transfer.js'
import type { ChildOptions } from '../../src/storage/child-process.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { testBytes } from '../support/file-sites.js'
import { requireXrootd, sitePath, startXrootdSite, type XrootdSite } from '../support/xrootd.js'
import { outputRequest, stageOutput, tempLfn, writeXrootdConfig } from '../support/xrootd-lab.js'

/** Every storage tool the agent (and the harness) starts, to see how the engine called xrdcp. */
const spawned = vi.hoisted(() => [] as { command: string; args: string[]; at: number }[])

vi.mock('../../src/storage/child-process.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/storage/child-process.js')>()
  return {
    ...original,
    runChild: (command: string, args: readonly string[], opts?: ChildOptions) => {
      spawned.push({ command, args: [...args], at: Date.now() })
      return original.runChild(command, args, opts)
    },
  }
})

const USER = 'alice'
const MiB = 1 << 20
/** files per `xrdcp --parallel` call */
const XROOT_PARALLEL = 25

let base: string
let A: XrootdSite
let B: XrootdSite
let agent: TestAgent

beforeAll(async () => {
  requireXrootd()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-xrootd-agent-'))
  ;[A, B] = await Promise.all([
    startXrootdSite({ name: 'XRD_A', baseDir: base }),
    startXrootdSite({ name: 'XRD_B', baseDir: base }),
  ])
  const configPath = await writeXrootdConfig(
    base,
    { XRD_A: A, XRD_B: B },
    {
      // the whole 100-file task fits one engine job, copied by 4 xrdcp calls running side by side
      links: { default: { maxActive: 200, maxFilesPerJob: 100 } },
      local: { maxConcurrent: 8, xrootParallel: XROOT_PARALLEL },
      retry: { maxAttempts: 5, backoff: { initial: '500ms', factor: 2, max: '2s', jitter: 0 } },
    },
  )
  agent = await startTestAgent(configPath)
})

afterAll(async () => {
  await agent?.stop()
  await Promise.all([A?.stop(), B?.stop()])
  if (base) await rm(base, { recursive: true, force: true })
})

// ---- helpers ----

type Request = ReturnType<typeof outputRequest>

function request(task: string, dir: string, name: string, rec: { size: number; adler32: string }): Request {
  return outputRequest({ user: USER, task, source: 'XRD_A', destination: 'XRD_B', dir, name, ...rec })
}

/** Injects as an admin; every request must be new. */
async function inject(requests: Request[]): Promise<string[]> {
  const results = await agent.inject(requests)
  expect(results.map((r) => r.status)).toEqual(requests.map(() => 'created'))
  return results.map((r) => r.id!)
}

async function records(ids: readonly string[]): Promise<TransferRecord[]> {
  const byId = new Map((await agent.store.getMany(ids)).map((r) => [r.id, r]))
  return ids.map((id) => byId.get(id)!)
}

/** Waits until every one of `ids` is in one of `states` (default: terminal). */
async function until(
  ids: readonly string[],
  timeoutMs: number,
  states: readonly TransferState[] = TERMINAL_STATES,
): Promise<TransferRecord[]> {
  try {
    await agent.waitFor(
      async () => (await records(ids)).every((r) => states.includes(r.state)),
      timeoutMs,
      `${ids.length} transfer(s) in ${states.join('/')}`,
    )
  } catch (err) {
    // say where the transfers are, so a timeout tells what stuck
    const byState = new Map<string, number>()
    for (const r of await records(ids)) byState.set(r.state, (byState.get(r.state) ?? 0) + 1)
    throw new Error(`${(err as Error).message}; now ${JSON.stringify(Object.fromEntries(byState))}`)
  }
  return records(ids)
}

/** The `xrdcp --tpc` calls made since `from` (an index into `spawned`). */
function tpcCallsSince(from: number): string[][] {
  return spawned
    .slice(from)
    .filter((c) => c.command === 'xrdcp' && c.args.includes('--tpc'))
    .map((c) => c.args)
}

/** The source URLs of an xrdcp call that read from site A. */
const sourcesOf = (args: string[]): string[] => args.filter((a) => a.startsWith(`${A.url}/`))

/** Entries of a directory at a site, [] when it does not exist. */
async function listDir(site: XrootdSite, lfnDir: string): Promise<string[]> {
  try {
    return await readdir(sitePath(site, lfnDir))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

async function sizeAt(site: XrootdSite, lfn: string): Promise<number> {
  try {
    return (await stat(sitePath(site, lfn))).size
  } catch {
    // not there (yet, or any more)
    return -1
  }
}

/** Size of the temporary copy of `lfn` at a site (`.NAME.<hex>.aso-part`, or NAME in a batch's `.aso-part-<hex>/`). */
async function partSizeAt(site: XrootdSite, lfn: string): Promise<number> {
  const dir = path.posix.dirname(lfn)
  const name = path.posix.basename(lfn)
  for (const e of await listDir(site, dir)) {
    if (e.startsWith(`.${name}.`) && e.endsWith('.aso-part')) return sizeAt(site, `${dir}/${e}`)
    if (e.startsWith('.aso-part-')) {
      const size = await sizeAt(site, `${dir}/${e}/${name}`)
      if (size >= 0) return size
    }
  }
  return -1
}

async function expectBytesAtB(lfn: string, data: Buffer): Promise<void> {
  const copied = await readFile(sitePath(B, lfn))
  expect(copied.length, lfn).toBe(data.length)
  // Buffer.equals rather than toEqual: a 1 MB diff would drown the report
  expect(copied.equals(data), `bytes of ${lfn}`).toBe(true)
}

async function everEntered(id: string, state: TransferState): Promise<boolean> {
  return (await agent.store.history(id)).some((e) => e.to === state)
}

// ---- scenarios ----

describe('agent with the built-in engine between two XRootD sites', () => {
  it('moves 100 files by batched third-party copy, verifies each, then removes the temporary sources', async () => {
    const files: { request: Request; data: Buffer }[] = []
    for (let i = 0; i < 100; i++) {
      // 3 bytes to 1 MiB, geometrically; each its own content
      const size = Math.max(3 + i, Math.round(3 * (MiB / 3) ** (i / 99)))
      const data = testBytes(size, 1000 + i)
      const name = `out_${String(i).padStart(3, '0')}.root`
      const rec = await stageOutput(A, tempLfn(USER, 'tpc', name), data)
      files.push({ request: request('tpc100', 'tpc', name, rec), data })
    }
    expect(new Set(files.map((f) => f.request.checksums.adler32)).size).toBe(100)
    expect(Math.max(...files.map((f) => f.data.length))).toBe(MiB)

    const firstCall = spawned.length
    const ids = await inject(files.map((f) => f.request))
    const done = await until(ids, 60_000)

    for (const [i, r] of done.entries()) {
      expect(
        { state: r.state, method: r.method, attempt: r.attempt, failureClass: r.failureClass },
        `${r.destinationLfn}: ${r.failureReason}`,
      ).toEqual({ state: 'DONE', method: 'xroot-tpc', attempt: 1, failureClass: null })
      await expectBytesAtB(r.destinationLfn, files[i]!.data)
      expect(await adler32(await readFile(sitePath(B, r.destinationLfn)))).toBe(r.checksums.adler32)
    }

    // each copy went through a temporary name, and none is left
    const destDir = path.posix.dirname(done[0]!.destinationLfn)
    expect((await listDir(B, destDir)).filter((n) => n.includes('.aso-part'))).toEqual([])

    // batched: a few `xrdcp --tpc only --parallel N` calls, each file in exactly one of them
    const calls = tpcCallsSince(firstCall)
    expect(calls.length).toBeGreaterThanOrEqual(Math.ceil(100 / XROOT_PARALLEL))
    expect(calls.length).toBeLessThanOrEqual(10)
    for (const args of calls) {
      const n = sourcesOf(args).length
      expect(n).toBeGreaterThan(1)
      expect(n).toBeLessThanOrEqual(XROOT_PARALLEL)
      expect(args[args.indexOf('--parallel') + 1]).toBe(String(n))
      expect(args).toContain('--cksum')
    }
    const copiedSources = calls.flatMap(sourcesOf).map((u) => u.slice(A.url.length + 1))
    expect(copiedSources.sort()).toEqual(done.map((r) => r.sourceLfn).sort())

    // the cleaner deletes each temporary source once its copy is DONE
    await agent.waitFor(
      async () => (await records(ids)).every((r) => r.sourceCleanup !== 'PENDING'),
      20_000,
      'source clean-up of the 100 files',
    )
    for (const r of await records(ids)) {
      expect(r.sourceCleanup, r.sourceLfn).toBe('DONE')
      expect(existsSync(sitePath(A, r.sourceLfn)), `${r.sourceLfn} still at XRD_A`).toBe(false)
    }
    expect(await listDir(A, path.posix.dirname(done[0]!.sourceLfn))).toEqual([])
  }, 90_000)

  it('copies a batch into a destination directory that exists with another mode than xrdfs makes', async () => {
    // job outputs trickle in: the first file of a directory goes alone (one xrdcp call, which makes the
    // directory 0755), the next ones as a batch, whose `xrdfs mkdir -p` then meets an existing directory
    const dir = 'trickle'
    const data = [0, 1, 2, 3].map((i) => testBytes(5000 + i, 300 + i))
    const stage = async (i: number) =>
      request(
        'trickle',
        dir,
        `out_${i}.root`,
        await stageOutput(A, tempLfn(USER, dir, `out_${i}.root`), data[i]!),
      )
    const first = await inject([await stage(0)])
    expect((await until(first, 30_000)).map((r) => r.state)).toEqual(['DONE'])
    const destDir = sitePath(B, `/store/user/${USER}/${dir}`)
    expect((await stat(destDir)).mode & 0o777).not.toBe(0o750)

    const firstCall = spawned.length
    const rest = await inject(await Promise.all([1, 2, 3].map(stage)))
    const done = await until(rest, 30_000)
    for (const [i, r] of done.entries()) {
      expect({ state: r.state, failureReason: r.failureReason }, r.destinationLfn).toEqual({
        state: 'DONE',
        failureReason: null,
      })
      await expectBytesAtB(r.destinationLfn, data[i + 1]!)
    }
    expect(tpcCallsSince(firstCall).map((a) => sourcesOf(a).length)).toEqual([3])
  }, 60_000)

  it('fails a missing source as permanent-source without copying anything', async () => {
    const firstCall = spawned.length
    const [id] = await inject([
      request('missing', 'missing', 'never_written.root', { size: 1234, adler32: '0badc0de' }),
    ])
    const [r] = await until([id!], 20_000)
    expect(r!.state).toBe('FAILED')
    expect(r!.failureClass).toBe('permanent-source')
    expect(r!.failureReason).toContain('SOURCE [2]')
    expect(r!.attempt).toBe(1)
    expect(existsSync(sitePath(B, r!.destinationLfn))).toBe(false)
    // decided by the source check before any copy
    expect(tpcCallsSince(firstCall).filter((a) => a.some((x) => x.endsWith(r!.sourceLfn)))).toEqual([])
  }, 30_000)

  it('never copies a source whose adler32 differs from the request: FAILED, nothing at the destination', async () => {
    const data = testBytes(64 * 1024, 4242)
    const name = 'tampered.root'
    const stored = await stageOutput(A, tempLfn(USER, 'mismatch', name), data)
    // the job reported another checksum than what is in the temporary area
    const wrong = (Number.parseInt(stored.adler32, 16) ^ 0x00010001).toString(16).padStart(8, '0')
    const firstCall = spawned.length
    const [id] = await inject([request('mismatch', 'mismatch', name, { size: stored.size, adler32: wrong })])
    const [r] = await until([id!], 20_000)

    expect(r!.state).toBe('FAILED')
    expect(r!.failureClass).toBe('permanent-source')
    expect(r!.failureReason).toContain('SOURCE [5]')
    expect(r!.failureReason).toContain(wrong)
    expect(await everEntered(id!, 'DONE')).toBe(false)
    expect(existsSync(sitePath(B, r!.destinationLfn))).toBe(false)
    expect(await listDir(B, path.posix.dirname(r!.destinationLfn))).toEqual([])
    expect(tpcCallsSince(firstCall).filter((a) => a.some((x) => x.endsWith(r!.sourceLfn)))).toEqual([])
    // a failed file's source is kept for the retention period (for a retry), not deleted
    expect(r!.sourceCleanup).toBe('PENDING')
    expect(existsSync(sitePath(A, r!.sourceLfn))).toBe(true)
  }, 30_000)

  it('kills a task while its copy runs: KILLED, and no file, partial or whole, at the destination', async () => {
    const dir = 'kill'
    const bigSize = 320 * MiB
    const big = Buffer.allocUnsafe(bigSize).fill(randomBytes(MiB))
    const requests = [
      request('kill', dir, 'big.root', await stageOutput(A, tempLfn(USER, dir, 'big.root'), big)),
    ]
    for (let i = 0; i < 3; i++) {
      const name = `small_${i}.root`
      const rec = await stageOutput(A, tempLfn(USER, dir, name), testBytes(10_000 + i, 77 + i))
      requests.push(request('kill', dir, name, rec))
    }
    const bigLfn = requests[0]!.destinationLfn
    const firstCall = spawned.length
    const ids = await inject(requests)

    // the job is SUBMITTED, its xrdcp call runs, and the big file is partly written at B, under a temporary
    // name: never under its final one before it is verified
    let partial = -1
    await agent.waitFor(
      async () => {
        const rs = await records(ids)
        if (!rs.every((r) => r.state === 'SUBMITTED')) return false
        if (!tpcCallsSince(firstCall).some((a) => a.some((x) => x.endsWith(requests[0]!.sourceLfn)))) {
          return false
        }
        expect(await sizeAt(B, bigLfn)).toBe(-1)
        partial = await partSizeAt(B, bigLfn)
        return partial > 0 && partial < bigSize
      },
      30_000,
      'the big file to be partly copied',
    )
    const jobId = (await records(ids))[0]!.engineJobId!
    const [status] = await agent.engines.get('local')!.status([jobId])
    expect(status!.state).toBe('active')

    const killed = await agent.store.kill({ task: 'kill' }, 'killed by the test', Date.now(), 'test')
    expect(killed).toEqual({ killed: 0, killing: ids.length })
    const ended = await until(ids, 30_000)
    for (const r of ended) {
      expect(
        { state: r.state, failureClass: r.failureClass },
        `${r.destinationLfn}: ${r.failureReason}`,
      ).toEqual({
        state: 'KILLED',
        failureClass: 'killed',
      })
      expect(await everEntered(r.id, 'KILLING')).toBe(true)
      expect(await everEntered(r.id, 'DONE')).toBe(false)
    }
    expect(partial).toBeGreaterThan(0)
    expect(partial).toBeLessThan(bigSize)

    const destDir = path.posix.dirname(bigLfn)
    const noLeftovers = async () => {
      for (const r of ended) expect(existsSync(sitePath(B, r.destinationLfn)), r.destinationLfn).toBe(false)
      // nor a partial or temporary file under another name
      expect(await listDir(B, destDir)).toEqual([])
    }
    await noLeftovers()
    // the destination server does not finish the aborted copy behind our back
    await new Promise((r) => setTimeout(r, 1500))
    await noLeftovers()
    // the temporary sources stay for the retention period
    for (const r of ended) expect(existsSync(sitePath(A, r.sourceLfn)), r.sourceLfn).toBe(true)
  }, 60_000)

  it('retries files whose destination is down and copies them once it is back', async () => {
    const dir = 'transient'
    const files: { request: Request; data: Buffer }[] = []
    await B.stop()
    let ids: string[] = []
    try {
      for (let i = 0; i < 5; i++) {
        const name = `out_${i}.root`
        const data = testBytes(20_000 + 1000 * i, 500 + i)
        files.push({
          request: request('transient', dir, name, await stageOutput(A, tempLfn(USER, dir, name), data)),
          data,
        })
      }
      ids = await inject(files.map((f) => f.request))
      // each attempt fails with a connection refused and waits for its backoff (>= 500 ms) in RETRY:
      // catch every file there once (the files need not all be in RETRY at the same moment)
      const seen = new Map<string, TransferRecord>()
      await agent.waitFor(
        async () => {
          for (const r of await records(ids)) if (r.state === 'RETRY' && !seen.has(r.id)) seen.set(r.id, r)
          return seen.size === ids.length
        },
        20_000,
        'every file in RETRY while XRD_B is down',
      )
      for (const r of seen.values()) {
        expect(r.failureClass, r.failureReason ?? '').toBe('transient')
        expect(r.failureReason).toMatch(/^DESTINATION \[111\]/)
        expect(r.nextAttemptAt).toBeGreaterThan(r.updatedAt)
      }
    } finally {
      await B.restart()
    }
    const done = await until(ids, 30_000)
    for (const [i, r] of done.entries()) {
      expect(
        { state: r.state, method: r.method, failureClass: r.failureClass },
        `${r.destinationLfn}: ${r.failureReason}`,
      ).toEqual({ state: 'DONE', method: 'xroot-tpc', failureClass: null })
      expect(r.attempt).toBeGreaterThanOrEqual(2)
      const retries = (await agent.store.history(r.id)).filter((e) => e.to === 'RETRY')
      expect(retries.length).toBe(r.attempt - 1)
      expect(retries[0]!.attempt).toBe(1)
      expect(retries[0]!.reason).toMatch(/^DESTINATION \[111\]/)
      await expectBytesAtB(r.destinationLfn, files[i]!.data)
    }
  }, 60_000)

  it("refuses a request that reads another user's files, or injects as another user, and stores nothing", async () => {
    const alice: Identity = { name: 'alice', role: 'user', groups: [], vomsRoles: [] }
    const ctx = requestContext(agent.config, agent.sites, alice)
    const rec = { size: 10, adler32: '0badc0de' }
    const readsBob = {
      ...request('refused', 'refused', 'x', rec),
      sourceLfn: '/store/temp/user/bob.123/x',
    }
    const asBob = outputRequest({
      user: 'bob',
      task: 'refused',
      source: 'XRD_A',
      destination: 'XRD_B',
      dir: 'refused',
      name: 'y',
      ...rec,
    })
    const own = request('refused', 'refused', 'z', rec)

    const [r1, r2, r3] = [readsBob, asBob, own].map((r) => validateRequest(r, ctx))
    expect(r1!.ok).toBe(false)
    expect(r1!.ok ? [] : r1!.errors.map((e) => e.field)).toEqual(['sourceLfn'])
    expect(r1!.ok ? '' : r1!.errors[0]!.message).toContain("outside alice's temporary area")
    expect(r2!.ok).toBe(false)
    expect(r2!.ok ? [] : r2!.errors.map((e) => e.field)).toContain('user')
    expect(r2!.ok ? '' : r2!.errors.find((e) => e.field === 'user')!.message).toContain('"bob"')
    // the same caller may inject their own file: the refusals are about the other user
    expect(r3!.ok).toBe(true)

    // what an inject endpoint does: store the valid items only; here, none of the refused ones
    const accepted = [r1!, r2!].flatMap((v) => (v.ok ? [{ id: v.id, request: v.request }] : []))
    expect(accepted).toEqual([])
    expect((await agent.store.list({ task: 'refused', limit: 10 })).items).toEqual([])
    expect((await agent.store.list({ user: 'bob', limit: 10 })).items).toEqual([])
    for (const v of [r1!, r2!])
      expect(v.id === null ? undefined : await agent.store.get(v.id)).toBeUndefined()
  })
})
