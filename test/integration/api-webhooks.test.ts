/**
 * Webhooks: every terminal state of a file with a callbackUrl is POSTed in the Standard Webhooks form
 * (webhook-id, webhook-timestamp, webhook-signature over "id.timestamp.body"), which a receiver verifies with
 * the reference library, for a `whsec_` secret and for a raw one; the legacy X-ASO-Signature still comes along.
 * A receiver that is down for a while gets every notification once it is back; a retried delivery keeps its
 * id and gets a fresh timestamp; a replayed request is refused. Callback URLs are limited to the allow-list
 * and to one per task.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import type { WebhookPayload } from '../../src/store/ops/webhook-outbox.js'
import type { KyselyStore } from '../../src/store/store.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import {
  type ReceivedWebhook,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../support/webhook-receiver.js'

/** a raw secret (not whsec_): its UTF-8 bytes are the key, as before the Standard Webhooks form */
const SECRET = 'webhook-test-secret-0123456789'

/**
 * A file lab whose callbacks go to 127.0.0.1 with these settings, the API and an agent on it, and alice's
 * client. The agent's notifier looks often (terminal outcomes wake it anyway).
 */
async function startWebhookLab(callbacks: {
  secret: string
  maxAttempts: number
  backoff: { initial: string; factor: number; max: string }
}): Promise<{ lab: FileLab; api: TestApi; client: AsoClient }> {
  const lab = await makeFileLab({
    config: {
      users: { alice: { groups: ['cms'] } },
      api: { callbacks: { allowHosts: ['127.0.0.1'], timeout: '2s', ...callbacks } },
    },
  })
  // makeFileLab's agent block is replaced whole by a config's: add the one setting to it
  const yaml = await readFile(lab.configPath, 'utf8')
  await writeFile(lab.configPath, yaml.replace('agent:\n', 'agent:\n  notifyInterval: 100ms\n'))
  const api = await startTestApi(lab.configPath, { insecureDev: true, agent: true })
  return { lab, api, client: new AsoClient(api.url, { user: 'alice' }) }
}

describe('webhooks', () => {
  let lab: FileLab
  let api: TestApi
  let client: AsoClient
  let receiver: WebhookReceiver

  beforeAll(async () => {
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }))
    await receiver.down()
    ;({ lab, api, client } = await startWebhookLab({
      secret: SECRET,
      maxAttempts: 100,
      backoff: { initial: '100ms', factor: 2, max: '400ms' },
    }))
  })
  afterAll(async () => {
    await client?.close()
    await api?.close()
    await receiver?.close()
  })

  it('refuses callback URLs off the allow-list, and a second URL for the same task', async () => {
    const w = await lab.writeOutput('SITE_A', '/store/temp/user/alice.abc/cb0.root', 10)
    const base = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_B',
      name: 'cb0.root',
      task: 'cbtask',
      ...w,
    })
    const r = await client.inject([
      { ...base, callbackUrl: 'https://evil.example.org/hook' },
      { ...base, callbackUrl: receiver.url },
      { ...base, destinationLfn: '/store/user/alice/cb0-b.root', callbackUrl: `${receiver.url}/other` },
    ])
    expect(r.results.map((x) => x.status)).toEqual(['rejected', 'created', 'rejected'])
    expect(r.results[0]!.error).toMatchObject({ field: 'callbackUrl' })
    expect(r.results[0]!.error!.message).toMatch(
      /host "evil\.example\.org" is not on the callback allow-list \(127\.0\.0\.1\)/,
    )
    expect(r.results[2]!.error!.message).toMatch(
      /every file of a task must carry the same callbackUrl: task "cbtask" already has/,
    )
  })

  it('delivers every terminal state, signed, after the receiver was down for a while', async () => {
    const requests: Record<string, unknown>[] = []
    for (let i = 1; i <= 4; i++) {
      const name = `cb${i}.root`
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 100 * i)
      requests.push({
        ...lab.request({
          user: 'alice',
          source: 'SITE_A',
          destination: 'SITE_B',
          name,
          task: 'cbtask',
          ...w,
        }),
        callbackUrl: receiver.url,
      })
    }
    // one source is missing: that file fails for good (permanent-source), and that is notified too
    const missing = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_B',
      name: 'gone.root',
      task: 'cbtask',
      size: 5,
      adler32: '00000001',
    })
    const injected = await client.inject([...requests, { ...missing, callbackUrl: receiver.url }])
    expect(injected.results.every((x) => x.status === 'created')).toBe(true)

    const summary = await client.waitForTask('cbtask', 20_000)
    expect(summary.complete).toBe(true)
    expect(summary.states).toEqual({ DONE: 5, FAILED: 1 })

    // the receiver is down: deliveries fail and are tried again with backoff, without holding anything up
    const db = (api.store as KyselyStore).db
    const attempts = async () =>
      (await db.selectFrom('webhook_outbox').select(['attempts', 'state', 'last_error']).execute()).map(
        (r) => ({
          ...r,
          attempts: Number(r.attempts),
        }),
      )
    await api.agent!.waitFor(
      async () => {
        const rows = await attempts()
        return rows.length === 6 && rows.every((r) => r.attempts >= 3 && r.state === 'PENDING')
      },
      15_000,
      'failed delivery attempts',
    )
    expect((await attempts())[0]!.last_error).toMatch(/ECONNREFUSED/)
    expect(receiver.received).toHaveLength(0)

    await receiver.up()
    await api.agent!.waitFor(
      async () => receiver.received.length >= 6,
      15_000,
      'deliveries after the receiver returned',
    )
    // the notifier records a delivery once the receiver's answer is in: wait for the record, not the request
    await api.agent!.waitFor(
      async () => (await attempts()).every((r) => r.state === 'DELIVERED'),
      15_000,
      'every delivery recorded',
    )
    expect(await api.store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })

    // every request verified by the reference library with the raw secret, and by the legacy signature
    expect(receiver.received.map((r) => r.refused)).toEqual(Array(6).fill(null))
    const payloads = receiver.received.map((r) => {
      const expected = `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`
      expect(r.headers['x-aso-signature']).toBe(expected)
      expect(r.headers['content-type']).toBe('application/json')
      return JSON.parse(r.body) as WebhookPayload
    })
    expect(payloads).toHaveLength(6)
    // one id per event
    const ids = receiver.received.map((r) => r.headers['webhook-id'])
    expect(ids.every((id) => /^msg_\w+$/.test(id ?? ''))).toBe(true)
    expect(new Set(ids).size).toBe(6)
    const failed = payloads.find((p) => p.state === 'FAILED')!
    expect(failed).toMatchObject({
      type: 'transfer.terminal',
      user: 'alice',
      task: 'cbtask',
      jobId: 'gone.root',
      failureClass: 'permanent-source',
      hint: expect.stringMatching(/\w/),
    })
    expect(
      payloads
        .filter((p) => p.state === 'DONE')
        .map((p) => p.jobId)
        .sort(),
    ).toEqual(['cb0.root', 'cb1.root', 'cb2.root', 'cb3.root', 'cb4.root'])
  })
})

describe('webhooks in the Standard Webhooks form (whsec_ secret)', () => {
  const secret = `whsec_${randomBytes(32).toString('base64')}`
  const verifier = new Webhook(secret)
  let lab: FileLab
  let api: TestApi
  let client: AsoClient
  let receiver: WebhookReceiver

  beforeAll(async () => {
    // the first delivery of each event is answered 500: every event is delivered twice
    receiver = await startWebhookReceiver(verifier, (r, received) =>
      received.some((x) => x.headers['webhook-id'] === r.headers['webhook-id']) ? 204 : 500,
    )
    ;({ lab, api, client } = await startWebhookLab({
      secret,
      maxAttempts: 10,
      // over a second even with the 10% jitter: the retry's timestamp (in seconds) is a later one
      backoff: { initial: '1200ms', factor: 1, max: '1200ms' },
    }))
  })
  afterAll(async () => {
    await client?.close()
    await api?.close()
    await receiver?.close()
  })

  /** the Standard Webhooks headers of a request */
  const signed = (r: ReceivedWebhook) => ({
    'webhook-id': r.headers['webhook-id']!,
    'webhook-timestamp': r.headers['webhook-timestamp']!,
    'webhook-signature': r.headers['webhook-signature']!,
  })
  /** the requests the receiver answered 204, one per event */
  const delivered = () => receiver.received.filter((r) => r.status === 204)

  it('signs id.timestamp.body; a retry keeps the id with a fresh timestamp; distinct events, distinct ids', async () => {
    const requests: Record<string, unknown>[] = []
    for (let i = 1; i <= 2; i++) {
      const name = `sw${i}.root`
      const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 50 * i)
      requests.push({
        ...lab.request({
          user: 'alice',
          source: 'SITE_A',
          destination: 'SITE_B',
          name,
          task: 'swtask',
          ...w,
        }),
        callbackUrl: receiver.url,
      })
    }
    const missing = lab.request({
      user: 'alice',
      source: 'SITE_A',
      destination: 'SITE_B',
      name: 'swgone.root',
      task: 'swtask',
      size: 5,
      adler32: '00000001',
    })
    const injected = await client.inject([...requests, { ...missing, callbackUrl: receiver.url }])
    expect(injected.results.every((x) => x.status === 'created')).toBe(true)
    const gone = injected.results[2]!.id!
    await api.agent!.waitFor(async () => delivered().length >= 3, 20_000, 'three events delivered')

    // a second event of the same transfer: the failed file is retried and fails again
    expect((await client.retry({ ids: [gone] })).retried).toBe(1)
    await api.agent!.waitFor(async () => delivered().length >= 4, 20_000, 'the second event of a transfer')
    expect(await api.store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })

    // every request, refused with 500 or accepted, verified by the library
    expect(receiver.received.map((r) => r.refused)).toEqual(Array(8).fill(null))
    const byId = new Map<string, ReceivedWebhook[]>()
    for (const r of receiver.received) {
      const id = r.headers['webhook-id']!
      byId.set(id, [...(byId.get(id) ?? []), r])
    }
    expect(byId.size).toBe(4)
    for (const [id, [first, retried, ...more]] of byId) {
      expect(id).toMatch(/^msg_\w+$/)
      expect(more).toEqual([])
      expect([first!.status, retried!.status]).toEqual([500, 204])
      // the same event: same id and body; signed again for this attempt's time
      expect(retried!.body).toBe(first!.body)
      const ts = (r: typeof first) => Number(r!.headers['webhook-timestamp'])
      expect(ts(retried)).toBeGreaterThan(ts(first))
      for (const r of [first, retried]) expect(Math.abs(ts(r) - r!.arrivedAt / 1000)).toBeLessThan(5)
      expect(retried!.headers['webhook-signature']).not.toBe(first!.headers['webhook-signature'])
    }
    // the body says which event it is; the gone file's two failures are two events, two ids
    const events = delivered().map((r) => JSON.parse(r.body) as WebhookPayload)
    expect(events.map((e) => e.type)).toEqual(Array(4).fill('transfer.terminal'))
    expect(events.filter((e) => e.id === gone).map((e) => e.state)).toEqual(['FAILED', 'FAILED'])

    // the deprecated header, kept for one release, is the HMAC of the body with the same key
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64')
    for (const r of receiver.received)
      expect(r.headers['x-aso-signature']).toBe(
        `sha256=${createHmac('sha256', key).update(r.body).digest('hex')}`,
      )
  })

  it('refuses a replayed request: 6 minutes old, or with its timestamp changed', async () => {
    await api.agent!.waitFor(async () => delivered().length > 0, 20_000, 'a delivery')
    const captured = delivered()[0]!
    expect(verifier.verify(captured.body, captured.headers)).toMatchObject({ type: 'transfer.terminal' })

    // the same request 6 minutes later (the clock is moved only for this synchronous check)
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(captured.arrivedAt + 6 * 60_000)
      expect(() => verifier.verify(captured.body, captured.headers)).toThrow(/timestamp too old/)
    } finally {
      vi.useRealTimers()
    }

    // a fresh timestamp on a captured request: the signature binds the timestamp, so the receiver refuses it
    const replay = async (changed: Record<string, string>) => {
      const headers = { 'content-type': 'application/json', ...signed(captured), ...changed }
      const res = await request(receiver.url, { method: 'POST', headers, body: captured.body })
      return { status: res.statusCode, text: await res.body.text() }
    }
    const fresh = String(Math.floor(Date.now() / 1000) + 1)
    expect(await replay({ 'webhook-timestamp': fresh })).toEqual({
      status: 401,
      text: 'No matching signature found',
    })
    // nor does the signature verify under another id or over another body
    expect(() =>
      verifier.verify(captured.body, {
        ...captured.headers,
        'webhook-id': `${captured.headers['webhook-id']}x`,
      }),
    ).toThrow(/No matching signature/)
    expect(() => verifier.verify(`${captured.body} `, captured.headers)).toThrow(/No matching signature/)
  })
})
