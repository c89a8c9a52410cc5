/**
 * Quota-aware admission through the real agent (issue 18): the destination site is a 4 MiB tmpfs, ten 1 MB
 * outputs are injected. What fits is submitted; the rest waits under a `quota` hold whose reason (what `aso
 * explain` shows) has the bytes waiting, the bytes free and where that figure came from (statfs); no attempt
 * fails with a quota error. Deleting the delivered files frees the disk, and the rest moves, until all are DONE.
 * The same on root:// (the built-in engine's xrdcp copies between two real XRootD servers, the destination's
 * user area a 3 MiB tmpfs in the server's own mount namespace, free space by `xrdfs spaceinfo`).
 * The tmpfs is mounted for the test (root, as `npm test` runs in CI; scripts/in-netns.sh gives a network
 * namespace, not a mount namespace, so it is unmounted lazily at the end).
 */
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TransferRecord } from '../../src/domain/transfer.js'
import { explainTransfer } from '../../src/reports/explain.js'
import { rootList, rootRemove } from '../../src/storage/xroot/root-protocol.js'
import { startTestAgent, type TestAgent } from '../support/agent.js'
import { makeFileLab, testBytes } from '../support/file-sites.js'
import { requireXrootd, startXrootdSite, type XrootdSite } from '../support/xrootd.js'
import { outputRequest, stageOutput, writeXrootdConfig } from '../support/xrootd-lab.js'

const run = promisify(execFile)
const FILES = 10
const SIZE = 1_000_000
const DISK = 4 * 1024 * 1024

let dir = ''
let disk = ''
let mountError: string | null = null
let agent: TestAgent | undefined
let xAgent: TestAgent | undefined
let xSites: XrootdSite[] = []
let xBase = ''

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'aso-admission-'))
  disk = path.join(dir, 'disk')
  await mkdir(disk)
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${DISK}`, 'tmpfs', disk])
  } catch (e) {
    mountError = (e as Error).message.split('\n')[0] ?? 'mount failed'
  }
})

afterAll(async () => {
  await agent?.stop()
  await xAgent?.stop()
  await Promise.all(xSites.map((x) => x.stop()))
  if (xBase) await rm(xBase, { recursive: true, force: true })
  if (!mountError) await run('umount', ['-l', disk]).catch(() => undefined)
  await rm(dir, { recursive: true, force: true })
})

/** The delivered files on the small disk (what the user would delete to make room). */
async function delivered(): Promise<string[]> {
  const area = path.join(disk, 'store/user/alice')
  const names = await readdir(area).catch(() => [] as string[])
  return names.filter((n) => n.endsWith('.root')).map((n) => path.join(area, n))
}

describe('quota admission on a small tmpfs destination', () => {
  it('submits what fits, holds the rest with the numbers, and moves it once space is freed', async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs (${mountError}): run as root`)
    const lab = await makeFileLab({
      dir: path.join(dir, 'lab'),
      config: {
        sites: {
          SITE_A: { protocols: [{ scheme: 'file', prefix: path.join(dir, 'lab/sites/SITE_A') }] },
          SITE_B: { protocols: [{ scheme: 'file', prefix: disk }], quota: { recheck: '1s', timeout: '5s' } },
        },
      },
    })
    agent = await startTestAgent(lab.configPath)
    const requests = []
    for (let i = 0; i < FILES; i++) {
      const name = `out_${i}.root`
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, SIZE)
      requests.push(lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name, ...w }))
    }
    const ids = (await agent.inject(requests)).map((r) => r.id!)
    const a = agent
    const records = async () => (await a.store.getMany(ids)) as TransferRecord[]
    const quotaHold = async () =>
      (await a.store.activeHolds(Date.now())).find((h) => h.class === 'quota' && h.site === 'SITE_B')
    /** nothing in flight: every file delivered or waiting */
    const settled = async () => (await records()).every((r) => r.state === 'DONE' || r.state === 'NEW')
    const doneCount = async () => (await records()).filter((r) => r.state === 'DONE').length

    // round 1: four files fit the 4 MiB disk, the other six wait under a quota hold
    await a.waitFor(
      async () => (await quotaHold()) !== undefined && (await settled()) && (await doneCount()) > 0,
      30_000,
      'some files DONE, none in flight, and a quota hold on the rest',
    )
    const firstDone = (await records()).filter((r) => r.state === 'DONE')
    expect(firstDone.length).toBe(4)
    const waiting = (await records()).filter((r) => r.state === 'NEW')
    expect(waiting.length).toBe(FILES - 4)
    const hold = (await quotaHold())!
    expect(hold.user).toBe('alice')
    expect(hold.reason).toMatch(/quota admission: 6 files \(.*, 6000000 B\) of alice wait for SITE_B/)
    expect(hold.reason).toMatch(/\(\d+ B\) free by statfs of file:\/\//)
    const room = Number(/room for .* \((\d+) B\)/.exec(hold.reason)![1])
    expect(room).toBeLessThan(SIZE)

    // what aso explain says of a waiting file: held, with the numbers and where they came from
    const e = await explainTransfer(a.store, a.sites, a.config, waiting[0]!)
    expect(e.why).toMatch(/^held \(quota\): quota admission: 6 files/)
    expect(e.why).toMatch(/free by statfs of file:\/\/.*room for/)
    expect(e.hold).toMatchObject({ class: 'quota', site: 'SITE_B' })

    // the user makes room, round after round, until everything is delivered
    for (let round = 0; round < 5; round++) {
      const all = await records()
      if (all.every((r) => r.state === 'DONE')) break
      const done = all.filter((r) => r.state === 'DONE').length
      for (const f of await delivered()) await rm(f)
      await a.waitFor(
        async () => {
          const n = await doneCount()
          return n === FILES || (n > done && (await settled()) && (await quotaHold()) !== undefined)
        },
        30_000,
        `more files DONE after freeing space (round ${round + 1})`,
      )
    }
    const final = await records()
    expect(final.map((r) => r.state)).toEqual(Array(FILES).fill('DONE'))

    // no attempt was burnt: every file went through once, nothing failed or was retried for quota
    for (const r of final) {
      expect(r.attempt).toBe(1)
      expect(r.failureClass).toBeNull()
      const history = await a.store.history(r.id)
      expect(history.filter((h) => h.to === 'RETRY' || h.to === 'FAILED')).toEqual([])
      expect(
        history.filter((h) => /\[(28|122)\]|No space|quota exceeded/i.test(h.reason)).map((h) => h.reason),
      ).toEqual([])
    }
    // room again: the hold is gone
    expect(await quotaHold()).toBeUndefined()
  }, 90_000)
})

describe('quota admission on an XRootD destination whose user area is a small tmpfs', () => {
  it('asks xrdfs spaceinfo: what fits goes, the rest waits held, and moves once files are removed', async (t) => {
    if (mountError) return t.skip(`cannot mount a small tmpfs (${mountError}): run as root`)
    requireXrootd()
    // its own temp directory: the servers run as user xrootd, who cannot enter the 0700 one of the file test
    xBase = await mkdtemp(path.join(tmpdir(), 'aso-admission-x-'))
    const base = xBase
    const A = await startXrootdSite({ name: 'A', baseDir: base })
    // 3 MiB: three 1 MB files fit, the other three wait
    const B = await startXrootdSite({
      name: 'B',
      baseDir: base,
      smallDisk: { dir: '/store/user/erin', size: '3m' },
    })
    xSites = [A, B]
    const configPath = await writeXrootdConfig(
      base,
      { A, B },
      { sites: { B: { quota: { recheck: '1s', timeout: '10s' } } } },
    )
    xAgent = await startTestAgent(configPath)
    const a = xAgent
    const requests = []
    for (let i = 0; i < 6; i++) {
      const name = `x_${i}.root`
      const w = await stageOutput(A, `/store/temp/user/erin.260101/d/${name}`, testBytes(SIZE, 20 + i))
      requests.push(
        outputRequest({ user: 'erin', task: 't', source: 'A', destination: 'B', dir: 'd', name, ...w }),
      )
    }
    const ids = (await a.inject(requests)).map((r) => r.id!)
    const records = async () => (await a.store.getMany(ids)) as TransferRecord[]
    const quotaHold = async () =>
      (await a.store.activeHolds(Date.now())).find((h) => h.class === 'quota' && h.site === 'B')
    await a.waitFor(
      async () => (await quotaHold()) !== undefined && (await records()).some((r) => r.state === 'DONE'),
      45_000,
      'some files DONE and a quota hold on the rest',
    )
    // waiting: three (a copy that failed for another reason on a loaded machine may be in RETRY)
    expect((await records()).filter((r) => r.state === 'NEW' || r.state === 'RETRY').length).toBe(3)
    expect((await quotaHold())!.reason).toMatch(
      /3 files .* of erin wait for B; .* free by XRootD spaceinfo of root:\/\/127\.0\.0\.1:\d+\/\/store\/user\/erin/,
    )
    await a.waitFor(
      async () => (await records()).filter((r) => r.state === 'DONE').length === 3,
      45_000,
      'the first three DONE',
    )
    // the user removes the delivered files through the server (this process does not see its mount)
    const area = `${B.url}//store/user/erin/d`
    for (const n of (await rootList(area)) ?? []) if (n.endsWith('.root')) await rootRemove(`${area}/${n}`)
    await a.waitFor(
      async () => (await records()).every((r) => r.state === 'DONE'),
      45_000,
      'all six DONE after the space was freed',
    )
    // no attempt failed for lack of space (xrdcp between two servers may fail otherwise under load: not ours)
    for (const r of await records()) {
      const history = await a.store.history(r.id)
      expect(
        history.filter((h) => /\[(28|122)\]|No space|quota exceeded/i.test(h.reason)).map((h) => h.reason),
      ).toEqual([])
      expect(r.failureClass).toBeNull()
    }
  }, 120_000)
})
