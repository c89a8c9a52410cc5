/**
 * The FTS3 double moves real bytes between two real XRootD sites (xroot third-party copy through the
 * built-in engine's xrdcp methods), verifies checksums as url-copy does, retries a recoverable failure
 * and publishes one completion message per attempt to a real STOMP broker (ActiveMQ).
 * Run inside a network namespace (scripts/test.sh).
 */
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { adler32 } from 'hash-wasm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SimClient, startInsecureSim, waitForJob } from '../../../test/support/fts3.js'
import {
  canConnect,
  requireActivemq,
  type StompBroker,
  startStompBroker,
  subscribeTopic,
  type TopicSubscriber,
} from '../../../test/support/stomp-broker.js'
import {
  putFile,
  requireXrootd,
  sitePath,
  startXrootdSite,
  type XrootdSite,
} from '../../../test/support/xrootd.js'
import type { Fts3Sim } from '../src/server.js'

const ALICE = '/DC=ch/DC=cern/OU=Users/CN=alice'
const TOPIC = 'transfer.fts_monitoring_complete'
const TEMP = '/store/temp/user/alice.1234'
const DEST = '/store/user/alice'

let base: string
let A: XrootdSite
let B: XrootdSite
let C: XrootdSite
let broker: StompBroker
let messages: TopicSubscriber
let sim: Fts3Sim
let client: SimClient
let serial = 0

beforeAll(async () => {
  requireXrootd()
  requireActivemq()
  base = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-copy-'))
  ;[A, B, C, broker] = await Promise.all([
    startXrootdSite({ name: 'A', baseDir: base }),
    startXrootdSite({ name: 'B', baseDir: base }),
    startXrootdSite({ name: 'C', baseDir: base }),
    startStompBroker(),
  ])
  messages = await subscribeTopic(broker.stompUrl, TOPIC)
  ;({ sim, client } = await startInsecureSim(ALICE, {
    vo: 'cms',
    maxActive: 8,
    stomp: { url: broker.stompUrl, alias: 'fts3-sim.example.org' },
    env: { XRD_CONNECTIONRETRY: '1', XRD_REQUESTTIMEOUT: '30' },
    schedulerIntervalMs: 50,
  }))
}, 120_000)

afterAll(async () => {
  await sim?.close()
  await messages?.close()
  await Promise.all([A?.stop(), B?.stop(), C?.stop(), broker?.stop()])
  if (base) await rm(base, { recursive: true, force: true })
})

/** A file in A's temporary area and where it goes at `site`; with its adler32. */
async function staged(site: XrootdSite = B, bytes = 64 * 1024) {
  serial++
  const data = randomBytes(bytes)
  const lfn = `${TEMP}/out_${serial}.root`
  await putFile(A, lfn, data)
  return {
    data,
    sum: await adler32(data),
    source: `${A.url}/${lfn}`,
    destination: `${site.url}/${DEST}/out_${serial}.root`,
    destinationPath: sitePath(site, `${DEST}/out_${serial}.root`),
  }
}

async function submit(files: unknown[], params: Record<string, unknown>): Promise<string> {
  const r = await client.request('POST', '/jobs', { body: { files, params } })
  expect(r.status, r.text).toBe(200)
  return (r.json as { job_id: string }).job_id
}

type Message = Record<string, unknown>
/** The completion messages of a job so far, parsed after checking the single trailing terminator. */
function completions(jobId: string): Message[] {
  return messages.messages
    .map((m) => {
      expect(m.body.endsWith(' ')).toBe(true)
      expect(m.body.endsWith('  ')).toBe(false)
      const body = JSON.parse(m.body.slice(0, -1)) as Message
      return { ...body, _vo: m.headers.vo } as Message
    })
    .filter((m) => m.job_id === jobId)
}

async function completionsOf(jobId: string, count: number): Promise<Message[]> {
  const deadline = Date.now() + 15_000
  while (completions(jobId).length < count) {
    if (Date.now() > deadline)
      throw new Error(`only ${completions(jobId).length} of ${count} messages for ${jobId}`)
    await new Promise((r) => setTimeout(r, 50))
  }
  return completions(jobId)
}

describe('real copies between XRootD sites', () => {
  it('root→root: the good file is copied byte for byte, the one with a wrong checksum fails and is removed', async () => {
    const good = await staged()
    const bad = await staged()
    const id = await submit(
      [
        {
          sources: [good.source],
          destinations: [good.destination],
          checksum: `adler32:${good.sum}`,
          metadata: { oracleId: 'g' },
        },
        { sources: [bad.source], destinations: [bad.destination], checksum: 'adler32:0badc0de' },
      ],
      { verify_checksum: false, job_metadata: { issuer: 'ASO' } },
    )
    const job = await waitForJob(sim, id, (j) => j.jobState === 'FINISHEDDIRTY', 30_000)
    const [ok, failed] = job.files
    expect(ok).toMatchObject({ fileState: 'FINISHED', filesize: good.data.length })
    expect(ok!.attempts[0]!.method).toBe('xroot-tpc')
    expect(await readFile(good.destinationPath)).toEqual(good.data)
    expect(failed!.fileState).toBe('FAILED')
    expect(failed!.reason).toBe(
      `DESTINATION [5] User-defined and destination adler32 checksum do not match (0badc0de != ${bad.sum})`,
    )
    expect(failed!.recoverable).toBe(false)
    expect(existsSync(bad.destinationPath)).toBe(false)

    const [first, second] = (await completionsOf(id, 2)).sort((x, y) => Number(x.file_id) - Number(y.file_id))
    expect(first).toMatchObject({
      job_id: id,
      file_id: ok!.fileId,
      vo: 'cms',
      _vo: 'cms',
      endpnt: 'fts3-sim.example.org',
      src_url: good.source,
      dst_url: good.destination,
      src_se: 'root://127.0.0.1',
      dst_se: 'root://127.0.0.1',
      t_final_transfer_state: 'Ok',
      t__error_message: '',
      job_state: 'UNKNOWN',
      file_metadata: { oracleId: 'g' },
      job_metadata: { issuer: 'ASO', auth_method: 'certificate' },
      file_size: good.data.length,
    })
    expect(first!.tr_id).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\d-\\d{4}__127\\.0\\.0\\.1__127\\.0\\.0\\.1__${ok!.fileId}__${id}$`),
    )
    expect(Number(first!.tr_timestamp_complete)).toBeGreaterThanOrEqual(Number(first!.tr_timestamp_start))
    expect(second).toMatchObject({
      t_final_transfer_state: 'Error',
      tr_error_scope: 'DESTINATION',
      t_error_code: 5,
      tr_error_category: 'INPUT/OUTPUT_ERROR',
      t_failure_phase: 'TRANSFER_FINALIZATION',
      is_recoverable: false,
      t__error_message: `User-defined and destination adler32 checksum do not match (0badc0de != ${bad.sum})`,
    })
  })

  it('a destination that is down is retried by FTS, end-to-end checksummed once it is back', async () => {
    const f = await staged(C)
    await C.stop()
    const id = await submit(
      [{ sources: [f.source], destinations: [f.destination], checksum: `adler32:${f.sum}` }],
      { verify_checksum: 'both', retry: 2, retry_delay: 1 },
    )
    await waitForJob(sim, id, (j) => j.files[0]!.retries.length === 1, 20_000)
    await C.restart()
    const job = await waitForJob(sim, id, (j) => j.jobState === 'FINISHED', 30_000)
    const file = job.files[0]!
    expect(file).toMatchObject({ fileState: 'FINISHED', retry: 1 })
    expect(file.retries[0]!.reason).toMatch(/^DESTINATION \[\d+\] /)
    expect(await readFile(sitePath(C, `${DEST}/out_${serial}.root`))).toEqual(f.data)
    const [error, ok] = await completionsOf(id, 2)
    expect(error).toMatchObject({
      t_final_transfer_state: 'Error',
      is_recoverable: true,
      retry: 0,
      retry_max: 2,
    })
    expect(ok).toMatchObject({ t_final_transfer_state: 'Ok' })
  })

  it('cancelling a running third-party copy aborts it and leaves nothing at the destination', async () => {
    const f = await staged(B, 1024 * 1024)
    const id = await submit([{ sources: [f.source], destinations: [f.destination] }], {})
    await waitForJob(sim, id, (j) => j.files[0]!.fileState === 'ACTIVE')
    await new Promise((r) => setTimeout(r, 600))
    expect((await client.request('DELETE', `/jobs/${id}`)).status).toBe(200)
    const job = await waitForJob(sim, id, (j) => j.files[0]!.attempts[0]!.outcome !== null, 20_000)
    expect(job).toMatchObject({ jobState: 'CANCELED' })
    expect(job.files[0]).toMatchObject({ fileState: 'CANCELED', reason: 'Job canceled by the user' })
    expect(existsSync(f.destinationPath)).toBe(false)
    const [abort] = await completionsOf(id, 1)
    expect(abort).toMatchObject({ t_final_transfer_state: 'Abort', t_error_code: 125 })
  })

  it('a message published while the broker is down is sent once it is back', async () => {
    const restarted = broker.restart()
    while (await canConnect(broker.port)) await new Promise((r) => setTimeout(r, 20))
    const missing = (n: string) => ({
      sources: [`${A.url}/${TEMP}/missing-${n}.root`],
      destinations: [`${B.url}/${DEST}/missing-${n}.root`],
    })
    const during = await submit([missing('1')], {})
    await waitForJob(sim, during, (j) => j.jobState === 'FAILED')
    expect(sim.pendingMessages()).toBeGreaterThan(0)
    await restarted
    const deadline = Date.now() + 15_000
    while ((sim.pendingMessages() > 0 || !messages.connected()) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50))
    }
    expect(sim.pendingMessages()).toBe(0)
    const after = await submit([missing('2')], {})
    await waitForJob(sim, after, (j) => j.jobState === 'FAILED')
    const [failed] = await completionsOf(after, 1)
    expect(failed).toMatchObject({
      t_final_transfer_state: 'Error',
      tr_error_scope: 'SOURCE',
      t_error_code: 2,
    })
  })
})
