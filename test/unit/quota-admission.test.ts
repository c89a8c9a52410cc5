import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { type Admission, QuotaAdmission, userAreaDir } from '../../src/agent/quota-admission.js'
import { configSchema } from '../../src/config/schema.js'
import type { TransferState } from '../../src/domain/states.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import type { FreeSpace } from '../../src/storage/protocol.js'
import type { Hold } from '../../src/store/ops/holds.js'

const MB = 1_000_000
type Row = { state: TransferState; n: number; bytes: number }

/** An admission on site B (file://), with a scripted storage figure and scripted rollup rows. */
function lab(quota: Record<string, unknown> | undefined, free: () => Promise<FreeSpace | null>) {
  const config = configSchema.parse({
    sites: {
      A: { protocols: [{ scheme: 'file', prefix: '/a' }] },
      B: { protocols: [{ scheme: 'file', prefix: '/b' }], ...(quota ? { quota } : {}) },
    },
  })
  let rows: Row[] = []
  let now = 1_000_000
  const asked: string[] = []
  const holds: Omit<Hold, 'id'>[] = []
  const released: unknown[] = []
  const warnings: string[] = []
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) })
  const admission = new QuotaAdmission({
    config,
    sites: new SiteCatalog(config),
    storage: {
      supports: () => true,
      freeSpace: (url: string) => {
        asked.push(url)
        return free()
      },
    },
    store: {
      counts: async () => rows.map((r) => ({ source: 'A', destination: 'B', user: 'alice', ...r })),
      renewHold: async (h) => {
        holds.push(h)
        return holds.length === 1
      },
      releaseHolds: async (sel) => {
        released.push(sel)
        return 1
      },
    },
    log,
    agentId: 'agent-1',
    now: () => now,
  })
  return {
    admission,
    asked,
    holds,
    released,
    warnings,
    setRows: (r: Row[]) => {
      rows = r
    },
    advance: (ms: number) => {
      now += ms
    },
    now: () => now,
  }
}

const q = { user: 'alice', destination: 'B' }
const budget = (a: Admission) => {
  if (a.kind !== 'budget') throw new Error(`expected a budget, got ${a.kind}`)
  return a
}

describe('quota admission', () => {
  it('a site without a quota section is not limited, and its storage is not asked', async () => {
    const l = lab(undefined, async () => ({ bytes: 0, source: 'statfs', url: 'file:///b' }))
    expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'open' })
    expect(l.asked).toEqual([])
  })

  it("asks the user's area once in the background, then admits free minus in flight", async () => {
    const l = lab({}, async () => ({ bytes: 10 * MB, source: 'statfs', url: 'file:///b/store/user' }))
    l.setRows([
      { state: 'NEW', n: 4, bytes: 12 * MB },
      { state: 'SUBMITTED', n: 1, bytes: 3 * MB },
    ])
    expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'pending' })
    await l.admission.idle()
    expect(l.asked).toEqual(['file:///b/store/user/alice/'])
    const a = budget(await l.admission.admit(q, l.now()))
    expect(a.maxBytes).toBe(7 * MB)
    expect(a.figure).toMatchObject({ free: 10 * MB, source: 'statfs' })
    expect(l.asked).toHaveLength(1)
  })

  it('nothing fitting places a quota hold whose reason has the numbers; room again releases it', async () => {
    const l = lab({ recheck: '30s' }, async () => ({
      bytes: 2 * MB,
      source: 'xrootd',
      url: 'root://h//store/user/alice',
    }))
    l.setRows([{ state: 'NEW', n: 3, bytes: 9 * MB }])
    await l.admission.admit(q, l.now())
    await l.admission.idle()
    const a = await l.admission.admit(q, l.now())
    await l.admission.settle(q, a, 0, l.now())
    expect(l.holds).toHaveLength(1)
    const h = l.holds[0]!
    expect(h).toMatchObject({ user: 'alice', site: 'B', class: 'quota', until: l.now() + 30_000 })
    expect(h.reason).toContain('3 files (8.6 MiB, 9000000 B) of alice wait for B')
    expect(h.reason).toContain('(2000000 B) free by XRootD spaceinfo of root://h//store/user/alice')
    expect(h.reason).toContain('room for 1.9 MiB (2000000 B)')
    await l.admission.settle(q, a, 2, l.now())
    expect(l.released).toEqual([{ user: 'alice', site: 'B', class: 'quota' }])
  })

  it('a stale figure may admit but never holds: it waits for the fresh one', async () => {
    let free = 1 * MB
    const l = lab({ recheck: '10s' }, async () => ({ bytes: free, source: 'statfs', url: 'file:///b' }))
    l.setRows([{ state: 'NEW', n: 1, bytes: 5 * MB }])
    await l.admission.admit(q, l.now())
    await l.admission.idle()
    expect(budget(await l.admission.admit(q, l.now())).maxBytes).toBe(MB)
    l.advance(10_000)
    free = 50 * MB
    expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'pending' })
    await l.admission.idle()
    expect(budget(await l.admission.admit(q, l.now())).maxBytes).toBe(50 * MB)
    expect(l.asked).toHaveLength(2)
  })

  it('bytes delivered since the figure was taken count against it until the next one', async () => {
    const l = lab({}, async () => ({ bytes: 10 * MB, source: 'statfs', url: 'file:///b' }))
    l.setRows([{ state: 'NEW', n: 2, bytes: 4 * MB }])
    await l.admission.admit(q, l.now())
    await l.admission.idle()
    l.setRows([
      { state: 'NEW', n: 2, bytes: 4 * MB },
      { state: 'DONE', n: 1, bytes: 6 * MB },
    ])
    const a = budget(await l.admission.admit(q, l.now()))
    expect(a.deliveredSince).toBe(6 * MB)
    expect(a.maxBytes).toBe(4 * MB)
  })

  it('a storage that fails means no limit, with one warning until it answers again', async () => {
    const l = lab({ recheck: '1s' }, async () => {
      throw new Error('DESTINATION [111] Connection refused')
    })
    l.setRows([{ state: 'NEW', n: 1, bytes: MB }])
    for (let i = 0; i < 3; i++) {
      await l.admission.admit(q, l.now())
      await l.admission.idle()
      expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'open' })
      l.advance(1000)
    }
    expect(l.asked).toHaveLength(3)
    expect(l.warnings.filter((w) => /free space/.test(w))).toHaveLength(1)
  })

  it('a storage that never answers is given up after the timeout: no limit', async () => {
    const l = lab({ timeout: '50ms' }, () => new Promise<FreeSpace | null>(() => {}))
    l.setRows([{ state: 'NEW', n: 1, bytes: MB }])
    expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'pending' })
    await l.admission.idle()
    expect(await l.admission.admit(q, l.now())).toEqual({ kind: 'open' })
    expect(l.warnings).toEqual([
      'cannot learn the free space of a user area: no quota limit until it answers',
    ])
  })

  it('asks at most 8 areas at once; the others wait for a later cycle', async () => {
    const answers: (() => void)[] = []
    const l = lab({}, () => new Promise<FreeSpace | null>((r) => answers.push(() => r(null))))
    for (let i = 0; i < 10; i++) await l.admission.admit({ user: `u${i}`, destination: 'B' }, l.now())
    expect(l.asked).toHaveLength(8)
    for (const answer of answers.splice(0)) answer()
    await l.admission.idle()
    for (let i = 0; i < 10; i++) await l.admission.admit({ user: `u${i}`, destination: 'B' }, l.now())
    expect(l.asked).toHaveLength(10)
  })

  it('a storage that gives no figure falls back to the configured perUser quota (delivered bytes count)', async () => {
    const l = lab({ perUser: '10MB' }, async () => null)
    l.setRows([
      { state: 'NEW', n: 2, bytes: 4 * MB },
      { state: 'DONE', n: 1, bytes: 6 * MB },
      { state: 'SUBMITTING', n: 1, bytes: 1 * MB },
    ])
    await l.admission.admit(q, l.now())
    await l.admission.idle()
    const a = budget(await l.admission.admit(q, l.now()))
    expect(a.figure.source).toBe('configured')
    expect(a.figure.where).toContain('sites.B.quota.perUser')
    expect(a.maxBytes).toBe(3 * MB)
  })

  it('probe: false uses the configured quota without asking the storage', async () => {
    const l = lab({ probe: false, perUser: 5 * MB }, async () => ({ bytes: 1, source: 'statfs', url: 'x' }))
    l.setRows([{ state: 'NEW', n: 1, bytes: MB }])
    expect(budget(await l.admission.admit(q, l.now())).maxBytes).toBe(5 * MB)
    expect(l.asked).toEqual([])
  })
})

describe('the user area asked about', () => {
  it('is the area pattern with the user filled in, cut before a wildcard or a group', () => {
    expect(userAreaDir('/store/user/{user}/', 'alice')).toBe('/store/user/alice/')
    expect(userAreaDir('/store/user/{user}.*/', 'alice')).toBe('/store/user/')
    expect(userAreaDir('/store/{group}/{user}', 'alice')).toBe('/store/')
  })
})

describe('sites.*.quota in aso.yaml', () => {
  const parse = (quota: unknown) =>
    configSchema.safeParse({ sites: { B: { protocols: [{ scheme: 'file', prefix: '/b' }], quota } } })

  it('takes sizes with units and durations, with defaults', () => {
    const r = parse({ perUser: '2TB' })
    expect(r.success && r.data.sites.B!.quota).toEqual({
      probe: true,
      perUser: 2e12,
      recheck: 60_000,
      timeout: 10_000,
    })
    expect(parse({ perUser: '1.5GiB', recheck: '5m' }).data?.sites.B?.quota?.perUser).toBe(1.5 * 2 ** 30)
  })

  it('names the field and the fix', () => {
    const bad = parse({ perUser: '2 lots' })
    expect(bad.success).toBe(false)
    expect(bad.error!.issues[0]!.path).toEqual(['sites', 'B', 'quota', 'perUser'])
    expect(bad.error!.issues[0]!.message).toMatch(/not a size; write e.g. 500GB/)
    const none = parse({ probe: false })
    expect(none.error!.issues[0]!.message).toMatch(/set perUser/)
    expect(parse({ perUsr: '1TB' }).success).toBe(false)
  })
})
