/**
 * Webhooks: every terminal state of a file with a callbackUrl is POSTed, signed with HMAC-SHA256; a receiver
 * that is down for a while gets every notification once it is back. Callback URLs are limited to the
 * allow-list and to one per task.
 */
import { createHmac } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import type { KyselyStore } from '../../src/store/kysely-store.js'
import type { WebhookPayload } from '../../src/store/ops/webhook-outbox.js'
import { startReceiver, startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

const SECRET = 'webhook-test-secret-0123456789'

describe('webhooks', () => {
  let lab: FileLab
  let api: TestApi
  let client: AsoClient
  let receiver: Awaited<ReturnType<typeof startReceiver>>

  beforeAll(async () => {
    receiver = await startReceiver()
    await receiver.down()
    lab = await makeFileLab({
      config: {
        users: { alice: { groups: ['cms'] } },
        api: {
          callbacks: {
            allowHosts: ['127.0.0.1'],
            secret: SECRET,
            maxAttempts: 100,
            backoff: { initial: '100ms', factor: 2, max: '400ms' },
            timeout: '2s',
          },
        },
      },
    })
    // the agent's notifier looks often (terminal outcomes wake it anyway)
    const { readFile, writeFile } = await import('node:fs/promises')
    const yaml = await readFile(lab.configPath, 'utf8')
    await writeFile(lab.configPath, yaml.replace('agent:\n', 'agent:\n  notifyInterval: 100ms\n'))
    api = await startTestApi(lab.configPath, { insecureDev: true, agent: true })
    client = new AsoClient(api.url, { user: 'alice' })
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
    expect((await attempts()).every((r) => r.state === 'DELIVERED')).toBe(true)
    expect(await api.store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })

    const payloads = receiver.received.map((r) => {
      const expected = `sha256=${createHmac('sha256', SECRET).update(r.body).digest('hex')}`
      expect(r.headers['x-aso-signature']).toBe(expected)
      expect(r.headers['content-type']).toBe('application/json')
      return JSON.parse(r.body) as WebhookPayload
    })
    expect(payloads).toHaveLength(6)
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
