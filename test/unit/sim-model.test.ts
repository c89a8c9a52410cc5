import { describe, expect, it } from 'vitest'
import { classify } from '../../src/domain/failures.js'
import { allocateFifo } from '../../src/domain/fair-share.js'
import type { FileOutcome } from '../../src/domain/outcome.js'
import { VirtualClock } from '../../src/sim/clock.js'
import { SimEngine } from '../../src/sim/engine.js'
import { FairnessTracker, jain, percentile } from '../../src/sim/metrics.js'
import { type CopyEnd, Network, REASONS, SOURCE_DOWN } from '../../src/sim/network.js'
import { generateWorld, parseScenario, type World } from '../../src/sim/scenario.js'

/** A world of two sites and one user with every random failure off: only what a test sets happens. */
function quietWorld(extra: Record<string, unknown> = {}): World {
  const w = generateWorld(
    parseScenario({
      files: 10,
      sites: 2,
      users: 1,
      homeSites: 0.5,
      links: { streams: [4, 4], streamRateMBs: [10, 10], latencyMs: 0, slowSites: 0 },
      failures: { transient: 0, sourceMissing: 0, flakySites: 0, permissionFiles: 0, downSites: 0 },
      quota: { overFiles: 0 },
      ...extra,
    }),
  )
  w.users[0]!.home = 1
  return w
}
const MB = 1024 * 1024

describe('percentiles and Jain', () => {
  it('nearest rank', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    expect(percentile(s, 50)).toBe(5)
    expect(percentile(s, 95)).toBe(10)
    expect(percentile([7], 99)).toBe(7)
    expect(percentile([], 50)).toBeNaN()
  })

  it('Jain: 1 when equal, 1/n when one takes all', () => {
    expect(jain([3, 3, 3])).toBeCloseTo(1)
    expect(jain([1, 0, 0, 0])).toBeCloseTo(0.25)
    expect(jain([1, 2])).toBeCloseTo(0.9)
  })

  it('leaves out a user whose backlog emptied in the interval', () => {
    const f = new FairnessTracker(() => 1)
    f.added('heavy', 'A->B', 100)
    f.added('light', 'A->B', 1)
    f.closeInterval()
    // the light user's one file arrives; the heavy user gets ten
    f.ended('light', 'A->B', 1)
    for (let i = 0; i < 10; i++) f.ended('heavy', 'A->B', 1)
    f.added('other', 'A->B', 50)
    f.closeInterval()
    // only 'heavy' waited the whole interval: no pair to compare, the index stays 1
    expect(f.index()).toBe(1)
    f.ended('heavy', 'A->B', 5)
    f.ended('other', 'A->B', 1)
    f.closeInterval()
    expect(f.index()).toBeCloseTo(jain([5, 1]))
  })
})

describe('FIFO allocation', () => {
  it('serves the queue with the oldest waiting file first, in full', () => {
    const shares = allocateFifo(10, [
      { key: 'a', user: 'a', waiting: 8, oldest: 200 },
      { key: 'b', user: 'b', waiting: 5, oldest: 100 },
      { key: 'c', user: 'c', waiting: 0, oldest: 50 },
    ])
    expect(shares.get('b')).toBe(5)
    expect(shares.get('a')).toBe(5)
    expect(shares.has('c')).toBe(false)
    expect(allocateFifo(0, [{ key: 'a', user: 'a', waiting: 3, oldest: 1 }]).size).toBe(0)
  })
})

describe('virtual clock', () => {
  it('fires timers in time order only when the driver moves time', () => {
    const c = new VirtualClock(1000)
    const seen: string[] = []
    c.setTimeout(() => seen.push('b'), 20)
    c.setTimeout(() => seen.push('a'), 10)
    const h = c.setTimeout(() => seen.push('never'), 15)
    c.clearTimeout(h)
    expect(c.fireDue()).toBe(0)
    expect(c.nextAt()).toBe(1010)
    c.advanceTo(1020)
    c.fireDue()
    expect(seen).toEqual(['a', 'b'])
    expect(c.now()).toBe(1020)
  })
})

function copyOnce(net: Network, size: number, id: string): Promise<CopyEnd> {
  return new Promise((resolve) => net.start({ id, user: 0, source: 0, destination: 1, size }, resolve))
}

describe('simulated network', () => {
  it('shares a link between the copies on it', async () => {
    const w = quietWorld({
      links: { streams: [4, 4], streamRateMBs: [10, 10], latencyMs: 0, slowSites: 0, failureSlope: 0 },
    })
    const net = new Network(w, w.start)
    const one = copyOnce(net, 100 * MB, 'f1')
    net.advanceTo(w.start + 100_000)
    const alone = (await one).at - w.start
    // 10 MB/s per stream: 10 s alone
    expect(alone).toBeGreaterThanOrEqual(9_999)
    expect(alone).toBeLessThanOrEqual(10_002)
    // five copies on a link of four streams: congested, the link moves 40 MB/s × (4/5)^0.5, a fifth each
    const t0 = net.now()
    const five = [1, 2, 3, 4, 5].map((i) => copyOnce(net, 100 * MB, `g${i}`))
    net.advanceTo(t0 + 1_000_000)
    const ends = await Promise.all(five)
    const expected = (100 / ((40 * Math.sqrt(0.8)) / 5)) * 1000
    for (const e of ends) {
      expect(e.ok).toBe(true)
      expect(Math.abs(e.at - t0 - expected)).toBeLessThan(5)
    }
  })

  it('fails a copy that does not fit in the user’s quota, with a reason classified as quota', async () => {
    const w = quietWorld()
    w.users[0]!.quota = 150 * MB
    const net = new Network(w, w.start)
    const a = copyOnce(net, 100 * MB, 'a')
    const b = copyOnce(net, 100 * MB, 'b')
    net.advanceTo(w.start + 100_000)
    expect((await a).ok).toBe(true)
    const e = await b
    expect(e.ok).toBe(false)
    expect(e.cause).toBe('quota')
    expect(classify(e.reason).class).toBe('quota')
  })

  it('fails copies from a site that is down', async () => {
    const w = quietWorld()
    w.sites[0]!.down.push([0, 3_600_000])
    const net = new Network(w, w.start)
    const e = copyOnce(net, MB, 'x')
    net.advanceTo(w.start + 10_000)
    expect((await e).cause).toBe('source')
    expect((await e).reason).toBe(SOURCE_DOWN)
  })
})

describe('reasons', () => {
  it('each cause reads as its class to the product’s classifier', () => {
    expect(classify(REASONS.quota).class).toBe('quota')
    expect(classify(REASONS['queue-timeout']).class).toBe('queue-timeout')
    expect(classify(REASONS.permission).class).toBe('permanent-destination')
    expect(classify(REASONS.source).class).toBe('permanent-source')
    expect(classify(REASONS.destination).class).toBe('transient')
    expect(classify(REASONS.transient).class).toBe('transient')
    expect(classify(SOURCE_DOWN).class).toBe('transient')
  })
})

describe('FTS-like engine', () => {
  it('runs up to its slots per link and expires files queued past max_time_in_queue', async () => {
    const w = quietWorld({
      maxTimeInQueueHours: 0.01,
      links: { streams: [1, 1], streamRateMBs: [1, 1], latencyMs: 0, slowSites: 0, engineActive: 1 },
    })
    const net = new Network(w, w.start)
    const causes: string[] = []
    const engine = new SimEngine(net, { onFailure: (_id, c) => causes.push(c) })
    const files = [1, 2, 3].map((i) => ({
      transferId: `t${i}`,
      attempt: 1,
      size: 30 * MB,
      sources: [],
      destinations: [],
      adler32: '00000001',
      ownsDestination: false,
      submission: 1,
      task: 't',
      activity: 'a',
      priority: 3,
    }))
    await engine.submit({
      id: 'job1',
      user: w.users[0]!.name,
      group: null,
      role: null,
      source: w.sites[0]!.name,
      destination: w.sites[1]!.name,
      files,
      priority: 3,
      overwrite: false,
      maxActive: 10,
    })
    net.advanceTo(w.start + 3_600_000)
    const outcomes: FileOutcome[] = (await engine.status(['job1']))[0]!.files
    // one slot, 30 s a copy: the second starts after 30 s in the queue, the third would after 60 s and
    // expires at 36 s (max_time_in_queue)
    expect(outcomes.map((o) => `${o.transferId} ${o.result}`).sort()).toEqual([
      't1 done',
      't2 done',
      't3 failed',
    ])
    expect(causes).toEqual(['queue-timeout'])
    expect(classify(outcomes.find((o) => o.result === 'failed')!.reason).class).toBe('queue-timeout')
  })

  it('words the original’s fatal causes so the store fails them at once', async () => {
    const w = quietWorld()
    w.users[0]!.quota = 0
    const net = new Network(w, w.start)
    const engine = new SimEngine(net, { originalFatal: true })
    await engine.submit({
      id: 'j',
      user: w.users[0]!.name,
      group: null,
      role: null,
      source: w.sites[0]!.name,
      destination: w.sites[1]!.name,
      files: [
        {
          transferId: 'q',
          attempt: 1,
          size: MB,
          sources: [],
          destinations: [],
          adler32: '1',
          ownsDestination: false,
          submission: 1,
          task: 't',
          activity: 'a',
          priority: 3,
        },
      ],
      priority: 3,
      overwrite: false,
      maxActive: 10,
    })
    net.advanceTo(w.start + 60_000)
    const [o] = (await engine.status(['j']))[0]!.files
    const c = classify(o!.reason)
    expect(c.class).toBe('permanent-destination')
    expect(c.retry).toBe(false)
  })
})

describe('scenario', () => {
  it('the same seed draws the same day; another seed another', () => {
    const s = parseScenario({ files: 2000, sites: 5, users: 20 })
    const a = generateWorld(s)
    const b = generateWorld(s)
    const c = generateWorld(s, 1, 99)
    expect(Array.from(a.size)).toEqual(Array.from(b.size))
    expect(Array.from(a.jobEnd)).toEqual(Array.from(b.jobEnd))
    expect(Array.from(a.size)).not.toEqual(Array.from(c.size))
    expect(a.size.length).toBe(2000)
  })

  it('refuses a bad scenario naming the field', () => {
    expect(() => parseScenario({ files: -1, sites: 5, users: 2 })).toThrow(/files/)
    expect(() => parseScenario({ files: 10, sites: 5, users: 2, links: { streams: [9, 3] } })).toThrow(
      /links\.streams.*min <= max/,
    )
  })
})
