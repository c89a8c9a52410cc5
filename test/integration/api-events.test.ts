/**
 * Server-Sent Events over a real socket while an in-process agent moves files: a client receives every
 * transition of its task in order, and one that reconnects with Last-Event-ID misses none and repeats none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import type { TransferEvent } from '../../src/contract/schemas.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const FILES = 12

async function requestsFor(lab: FileLab, task: string) {
  const out: Record<string, unknown>[] = []
  for (let i = 0; i < FILES; i++) {
    const name = `${task}-${i}.root`
    const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 1000 + i * 100)
    out.push(lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name, task, ...w }))
  }
  return out
}

/** Reads a stream until every file of the task has ended DONE (or `stopAfter` events), then closes it. */
async function collect(
  stream: AsyncGenerator<TransferEvent>,
  into: TransferEvent[],
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<void> {
  const done = new Set(into.filter((e) => e.to === 'DONE').map((e) => e.transferId))
  let n = 0
  for await (const e of stream) {
    into.push(e)
    if (e.to === 'DONE') done.add(e.transferId)
    if (done.size === FILES || ++n >= stopAfter) break
  }
}

describe('GET /api/v1/events (SSE)', () => {
  let lab: FileLab
  let api: TestApi
  let alice: AsoClient
  let bob: AsoClient
  const storedUpTo = async (task: string, last: number) =>
    (await api.store.eventsSince(0, { task }, 10_000)).filter((e) => e.id <= last)

  beforeAll(async () => {
    lab = await makeFileLab({ config: { users: { alice: { groups: ['cms'] }, bob: {} } } })
    api = await startTestApi(lab.configPath, { insecureDev: true, agent: true })
    alice = new AsoClient(api.url, { user: 'alice' })
    bob = new AsoClient(api.url, { user: 'bob' })
  })
  afterAll(async () => {
    await alice?.close()
    await bob?.close()
    await api?.close()
  })

  it('delivers every transition of the task, in order, to a client that subscribed before injecting', async () => {
    const seen: TransferEvent[] = []
    const reading = collect(alice.events({ task: 'sse1' }), seen)
    const stranger: TransferEvent[] = []
    const abort = new AbortController()
    // how bob's stream ended: it must stay open until the test closes it, since a refusal, an error or an
    // early end would leave `stranger` empty too
    const peeking = (async () => {
      for await (const e of bob.events({ task: 'sse1' }, { signal: abort.signal })) stranger.push(e)
      return abort.signal.aborted ? 'closed by the test' : 'ended before the test closed it'
    })().catch((e: unknown) => `failed: ${e instanceof Error ? e.message : String(e)}`)
    const injected = await alice.inject(await requestsFor(lab, 'sse1'))
    expect(injected.results.every((r) => r.status === 'created')).toBe(true)
    await reading
    abort.abort()
    const peekEnd = await peeking

    // the stream holds every history row up to the last one read (clean-up rows may follow the DONEs)
    const stored = await storedUpTo('sse1', seen.at(-1)!.id)
    expect(seen.map((e) => e.id)).toEqual(stored.map((e) => e.id))
    for (const r of injected.results) {
      const path = seen
        .filter((e) => e.transferId === r.id && e.from !== e.to)
        .map((e) => `${e.from ?? '-'}>${e.to}`)
      expect(path).toEqual(['->NEW', 'NEW>SUBMITTING', 'SUBMITTING>SUBMITTED', 'SUBMITTED>DONE'])
    }
    // bob follows the same task name but sees none of alice's transitions
    expect(peekEnd).toBe('closed by the test')
    expect(stranger).toEqual([])
  })

  it('resumes with Last-Event-ID: nothing missed, nothing repeated, while the task runs', async () => {
    const first: TransferEvent[] = []
    const reading = collect(alice.events({ task: 'sse2' }), first, 7)
    await alice.inject(await requestsFor(lab, 'sse2'))
    await reading
    expect(first).toHaveLength(7)
    // transitions happen while disconnected
    await new Promise((r) => setTimeout(r, 300))
    const rest: TransferEvent[] = [...first]
    await collect(alice.events({ task: 'sse2' }, { lastEventId: first.at(-1)!.id }), rest)
    const stored = await storedUpTo('sse2', rest.at(-1)!.id)
    expect(rest.map((e) => e.id)).toEqual(stored.map((e) => e.id))
    expect(new Set(rest.map((e) => e.id)).size).toBe(rest.length)
  })

  it('starts an unfiltered stream at the next change, and refuses a bad Last-Event-ID', async () => {
    const latest = await api.store.latestEventId()
    const next: TransferEvent[] = []
    const reading = (async () => {
      for await (const e of alice.events()) {
        next.push(e)
        break
      }
    })()
    await new Promise((r) => setTimeout(r, 200))
    await alice.kill({ task: 'sse2' })
    const w = await lab.writeOutput('SITE_A', '/store/temp/user/alice.abc/late.root', 10)
    await alice.inject([
      lab.request({
        user: 'alice',
        source: 'SITE_A',
        destination: 'SITE_B',
        name: 'late.root',
        task: 'sse3',
        ...w,
      }),
    ])
    await reading
    expect(next[0]!.id).toBeGreaterThan(latest)
    const res = await fetch(`${api.url}/api/v1/events`, {
      headers: { 'x-aso-user': 'alice', 'last-event-id': 'x' },
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /Last-Event-ID must be/,
    )
  })
})
