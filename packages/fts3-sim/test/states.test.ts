/**
 * The FTS3 double's daemon side (docs/fts3-rest.md §2, §3): job states derived from file outcomes,
 * FTS-side retries of recoverable failures logged under /retries, max_time_in_queue expiry, priority,
 * overwrite and checksum rules, cancel of a running copy. Storage here is an in-memory `mock://` scheme
 * with its own copy method, given to the double the way another engine method would be.
 */

import type { CopyMethod } from 'aso/storage'
import { type ProtocolHandler, StorageError, StorageRegistry } from 'aso/storage'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SimClient, simClient, startInsecureSim, waitForJob } from '../../../test/support/fts3.js'
import type { Fts3Sim } from '../src/server.js'

const ALICE = '/DC=ch/DC=cern/OU=Users/CN=alice'
const objects = new Map<string, Buffer>()
const failures = new Map<string, number>()
const keyOf = (url: string): string => url.split('?')[0]!

const mockStorage: ProtocolHandler = {
  schemes: ['mock'],
  async stat(url) {
    const b = objects.get(keyOf(url))
    return b ? { size: b.length, isDirectory: false } : null
  },
  async adler32(url, opts) {
    const b = objects.get(keyOf(url))
    if (!b) throw new StorageError(opts?.scope ?? 'TRANSFER', 2, 'No such file or directory')
    return adler32(b)
  },
  async remove(url) {
    objects.delete(keyOf(url))
  },
}

/** mock:// copies; the source's query may ask for `fail=<reason>` (the first `times` attempts) and `ms=<delay>`. */
const mockCopy: CopyMethod = {
  name: 'mock-copy',
  rank: 1,
  supports: (s, d) => s === 'mock' && d === 'mock',
  async run(tasks, _ctx, report) {
    for (const task of tasks) {
      const q = new URL(task.source.url).searchParams
      const delay = Number(q.get('ms') ?? 0)
      if (delay > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay)
          task.signal.addEventListener('abort', () => {
            clearTimeout(timer)
            resolve()
          })
        })
      }
      if (task.signal.aborted) {
        report(task, { ok: false, reason: 'TRANSFER [125] Transfer aborted' })
        continue
      }
      const fail = q.get('fail')
      const key = keyOf(task.destination.url)
      const failed = failures.get(key) ?? 0
      if (fail && failed < Number(q.get('times') ?? Number.POSITIVE_INFINITY)) {
        failures.set(key, failed + 1)
        report(task, { ok: false, reason: fail })
        continue
      }
      const data = objects.get(keyOf(task.source.url))!
      objects.set(key, q.get('corrupt') ? Buffer.concat([data.subarray(1), Buffer.from('!')]) : data)
      report(task, { ok: true, bytes: data.length })
    }
  },
}

let sim: Fts3Sim
let client: SimClient
let serial = 0

beforeAll(async () => {
  ;({ sim, client } = await startInsecureSim(ALICE, {
    maxActive: 4,
    storage: new StorageRegistry([mockStorage]),
    methods: [mockCopy],
    defaultRetryDelayMs: 300,
    schedulerIntervalMs: 20,
  }))
})
afterAll(async () => {
  await sim?.close()
})

type Obj = Record<string, unknown>

/** A source holding `data`, its URL carrying `query`; the destination is fresh. */
function pair(query = '', data?: Buffer): { sources: string[]; destinations: string[] } {
  serial++
  data ??= Buffer.from(`payload ${serial}`)
  const src = `mock://site-a.example/store/temp/f${serial}`
  objects.set(src, data)
  return { sources: [`${src}${query}`], destinations: [`mock://site-b.example/store/user/f${serial}`] }
}

async function run(files: Obj[], params: Obj = {}): Promise<ReturnType<Fts3Sim['jobs']>[number]> {
  const r = await client.request('POST', '/jobs', { body: { files, params } })
  expect(r.status, r.text).toBe(200)
  const id = (r.json as { job_id: string }).job_id
  return waitForJob(sim, id, (j) => ['FINISHED', 'FINISHEDDIRTY', 'FAILED', 'CANCELED'].includes(j.jobState))
}

describe('job state derivation', () => {
  it('all files finished: FINISHED with an empty reason, sizes and times filled', async () => {
    const j = await run([pair(), pair()])
    expect(j.jobState).toBe('FINISHED')
    expect(j.reason).toBe('')
    for (const f of j.files) {
      expect(f).toMatchObject({ fileState: 'FINISHED', reason: '', recoverable: false, retry: 0 })
      expect(f.filesize).toBeGreaterThan(0)
      expect(objects.get(f.destSurl)).toEqual(objects.get(keyOf(f.sourceSurl)))
    }
    const [row] = (await client.get(`/jobs/${j.jobId}/files`)).json as Obj[]
    expect(row!.finish_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
    expect(row!.tx_duration).toEqual(expect.any(Number))
  })

  it('some finished, some failed: FINISHEDDIRTY with the "One or more files failed" reason', async () => {
    const missing = {
      sources: ['mock://site-a.example/store/temp/none'],
      destinations: ['mock://site-b.example/x/none'],
    }
    const j = await run([pair(), missing])
    expect(j.jobState).toBe('FINISHEDDIRTY')
    expect(j.reason).toBe('One or more files failed. Please have a look at the details for more information')
    const failed = j.files.find((f) => f.fileState === 'FAILED')!
    expect(failed.reason).toMatch(/^SOURCE \[2\] /)
    expect(failed.recoverable).toBe(false)
  })

  it('every file failed: FAILED', async () => {
    const j = await run([pair('?fail=DESTINATION [13] Permission denied')])
    expect(j.jobState).toBe('FAILED')
    expect(j.files[0]).toMatchObject({ fileState: 'FAILED', reason: 'DESTINATION [13] Permission denied' })
  })

  it('finished and queue-expired files make a CANCELED job, with the real expiry reason', async () => {
    const s = await startInsecureSim(ALICE, {
      maxActive: 1,
      storage: new StorageRegistry([mockStorage]),
      methods: [mockCopy],
      schedulerIntervalMs: 20,
    })
    try {
      const c = simClient(s.sim.url)
      const body = { files: [pair('?ms=1500'), pair()], params: { max_time_in_queue: '1s' } }
      const id = ((await c.request('POST', '/jobs', { body })).json as Obj).job_id as string
      const j = await waitForJob(s.sim, id, (x) => x.jobState === 'CANCELED', 10_000)
      expect(j.files.map((f) => f.fileState)).toEqual(['FINISHED', 'CANCELED'])
      expect(j.files[1]!.reason).toBe(
        'Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)',
      )
      expect(j.files[1]!.attempts).toEqual([])
    } finally {
      await s.sim.close()
    }
  })
})

describe('multi-replica and multihop jobs', () => {
  it('a failed replica hands over to the next source (job type R)', async () => {
    const good = pair()
    const files = [
      {
        sources: ['mock://site-a.example/store/temp/gone', good.sources[0]],
        destinations: good.destinations,
      },
    ]
    const j = await run(files, { retry: 3 })
    expect(j).toMatchObject({ jobType: 'R', jobState: 'FINISHED' })
    expect(j.files.map((f) => f.fileState)).toEqual(['FAILED', 'FINISHED'])
    expect(j.files.map((f) => f.fileIndex)).toEqual([0, 0])
  })

  it('hops run one after another (job type H); a failed hop fails the job', async () => {
    const first = pair()
    const middle = first.destinations[0]!
    const last = `mock://site-c.example/store/user/hop${serial}`
    const j = await run([first, { sources: [middle], destinations: [last] }], { multihop: true })
    expect(j).toMatchObject({ jobType: 'H', jobState: 'FINISHED' })
    expect(j.files[1]!.attempts[0]!.startedAt.getTime()).toBeGreaterThanOrEqual(
      j.files[0]!.attempts[0]!.finishedAt!.getTime(),
    )
    expect(objects.get(last)).toEqual(objects.get(keyOf(first.sources[0]!)))
    const broken = pair('?fail=DESTINATION [13] Permission denied')
    const k = await run([broken, { sources: [broken.destinations[0]], destinations: [`${last}-2`] }], {
      multihop: true,
    })
    expect(k.jobState).toBe('FAILED')
    expect(k.files.map((f) => f.fileState)).toEqual(['FAILED', 'NOT_USED'])
  })
})

describe('FTS-side retries', () => {
  it('a recoverable failure goes back to SUBMITTED, never FAILED, and is logged under /retries', async () => {
    const files = [pair('?fail=TRANSFER [110] TRANSFER Operation timed out&times=2')]
    const r = await client.request('POST', '/jobs', { body: { files, params: { retry: 3, retry_delay: 1 } } })
    const id = (r.json as Obj).job_id as string
    const seen = new Set<string>()
    let j = sim.jobs().find((x) => x.jobId === id)!
    while (!['FINISHED', 'FAILED'].includes(j.jobState)) {
      seen.add(j.files[0]!.fileState)
      await new Promise((res) => setTimeout(res, 20))
      j = sim.jobs().find((x) => x.jobId === id)!
    }
    expect(j.jobState).toBe('FINISHED')
    expect(seen.has('FAILED')).toBe(false)
    expect(seen.has('SUBMITTED')).toBe(true)
    const f = j.files[0]!
    expect(f.retry).toBe(2)
    expect(f.attempts.map((a) => a.outcome)).toEqual(['Error', 'Error', 'Ok'])
    // retry_delay is honoured between attempts
    expect(f.attempts[1]!.startedAt.getTime() - f.attempts[0]!.finishedAt!.getTime()).toBeGreaterThanOrEqual(
      900,
    )
    const retries = (await client.get(`/jobs/${id}/files/${f.fileId}/retries`)).json as Obj[]
    expect(retries).toEqual([
      expect.objectContaining({
        file_id: f.fileId,
        attempt: 1,
        reason: 'TRANSFER [110] TRANSFER Operation timed out',
      }),
      expect.objectContaining({ file_id: f.fileId, attempt: 2 }),
    ])
    expect(retries[0]!.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
  })

  it('retries run out: FAILED, recoverable; retry_delay 0 waits the server default', async () => {
    const j = await run([pair('?fail=DESTINATION [112] Host is down')], { retry: 1, retry_delay: 0 })
    const f = j.files[0]!
    expect(j.jobState).toBe('FAILED')
    expect(f).toMatchObject({ fileState: 'FAILED', retry: 1, recoverable: true })
    expect(f.attempts).toHaveLength(2)
    expect(f.attempts[1]!.startedAt.getTime() - f.attempts[0]!.finishedAt!.getTime()).toBeGreaterThanOrEqual(
      250,
    )
  })

  it('an unrecoverable failure, or retry 0 / -1, is not retried', async () => {
    const perm = await run([pair('?fail=DESTINATION [13] Permission denied')], { retry: 3, retry_delay: 1 })
    expect(perm.files[0]).toMatchObject({ retry: 0, recoverable: false })
    const none = await run([pair('?fail=DESTINATION [112] Host is down')], { retry: -1 })
    expect(none.files[0]).toMatchObject({ fileState: 'FAILED', retry: 0, recoverable: true })
  })
})

describe('url-copy rules', () => {
  it('an existing destination fails without overwrite and is replaced with it', async () => {
    const p = pair()
    objects.set(p.destinations[0]!, Buffer.from('old'))
    const j = await run([p])
    expect(j.files[0]!.reason).toBe('DESTINATION [17] Destination file exists and overwrite is not enabled')
    const again = await run([p], { overwrite: true })
    expect(again.jobState).toBe('FINISHED')
    expect(objects.get(p.destinations[0]!)).toEqual(objects.get(keyOf(p.sources[0]!)))
  })

  it('checksums: a wrong user value fails at the source (s/b) or at the destination (t), which is removed', async () => {
    const data = Buffer.from('checksummed payload')
    const sum = await adler32(data)
    const ok = await run(
      [{ ...pair('', data), checksum: `ADLER32:${sum.replace(/^0+/, '').toUpperCase()}` }],
      {
        verify_checksum: 'both',
      },
    )
    expect(ok.jobState).toBe('FINISHED')
    const atSource = await run([{ ...pair(), checksum: 'adler32:12345678' }], { verify_checksum: true })
    expect(atSource.files[0]!.reason).toMatch(
      /^SOURCE \[5\] Source and user-defined adler32 checksum do not match \(\w+ != 12345678\)$/,
    )
    const p = pair()
    const atDest = await run([{ ...p, checksum: 'adler32:12345678' }])
    expect(atDest.files[0]!.reason).toMatch(
      /^DESTINATION \[5\] User-defined and destination adler32 checksum do not match \(12345678 != \w+\)$/,
    )
    expect(objects.has(p.destinations[0]!)).toBe(false)
    const corrupt = await run([pair('?corrupt=1')], { verify_checksum: 'both' })
    expect(corrupt.files[0]!.reason).toMatch(
      /^DESTINATION \[5\] Source and destination ADLER32 checksum do not match/,
    )
  })

  it('higher priority jobs start first', async () => {
    const s = await startInsecureSim(ALICE, {
      maxActive: 1,
      storage: new StorageRegistry([mockStorage]),
      methods: [mockCopy],
      schedulerIntervalMs: 20,
    })
    try {
      const c = simClient(s.sim.url)
      const post = async (files: Obj[], priority: number) =>
        ((await c.request('POST', '/jobs', { body: { files, params: { priority } } })).json as Obj)
          .job_id as string
      const low = await post([pair('?ms=300'), pair()], 1)
      const high = await post([pair()], 5)
      await waitForJob(s.sim, low, (j) => j.jobState === 'FINISHED', 10_000)
      const jobs = s.sim.jobs()
      const started = (id: string, i: number) =>
        jobs.find((j) => j.jobId === id)!.files[i]!.attempts[0]!.startedAt
      expect(started(high, 0).getTime()).toBeLessThanOrEqual(started(low, 1).getTime())
    } finally {
      await s.sim.close()
    }
  })
})

describe('cancel', () => {
  it('cancelling a running copy aborts it: CANCELED, finish_time null, nothing written', async () => {
    const p = pair('?ms=3000')
    const r = await client.request('POST', '/jobs', { body: { files: [p], params: {} } })
    const id = (r.json as Obj).job_id as string
    await waitForJob(sim, id, (j) => j.files[0]!.fileState === 'ACTIVE')
    const del = await client.request('DELETE', `/jobs/${id}`)
    expect(del.json).toMatchObject({ job_state: 'CANCELED' })
    const j = await waitForJob(sim, id, (x) => x.files[0]!.attempts[0]!.outcome !== null)
    expect(j.files[0]).toMatchObject({
      fileState: 'CANCELED',
      reason: 'Job canceled by the user',
      finishTime: null,
    })
    expect(j.files[0]!.attempts[0]!.outcome).toBe('Abort')
    expect(j.jobState).toBe('CANCELED')
    expect(objects.has(p.destinations[0]!)).toBe(false)
  })
})
