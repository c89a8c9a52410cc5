/**
 * Task names are not shared between users (issue 16, items 4 and 9), against a real server on loopback with an
 * agent and a webhook receiver: a task belongs to the user who first injected into it; another user's inject into
 * it is refused with a message that shows nothing of it (not its owner, not its callback URL), so no one can make
 * ASO notify someone else's receiver; every task route answers a task of another user exactly like a missing
 * one; operators still see and act on every task. And query times must be times.
 */
import { Webhook } from 'standardwebhooks'
import { request as httpRequest } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhookPayload } from '../../src/store/ops/webhook-outbox.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js'

interface Reply {
  status: number
  body: Record<string, unknown> & { error?: { code: string; message: string; field?: string } }
}
interface ItemResult {
  status: string
  error?: { field: string; message: string }
}

const SECRET = 'task-ownership-test-secret-0123'

const NEUTRAL = (task: string) =>
  new RegExp(`^task "${task}" is already used by another user: choose another task name$`)

describe('task ownership', () => {
  let lab: FileLab
  let api: TestApi
  let receiver: WebhookReceiver
  let aliceHook: string
  let files = 0

  const call = async (user: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> => {
    const r = await httpRequest(`${api.url}/api/v1${path}`, {
      method,
      headers: {
        'x-aso-user': user,
        accept: 'application/json',
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    return { status: r.statusCode, body: (await r.body.json()) as Reply['body'] }
  }
  /** A request for a new job output of `user` in `task` (the file exists: the copy can succeed). */
  const output = async (user: string, task: string, callbackUrl?: string) => {
    const name = `f${++files}.root`
    const w = await lab.writeOutput('SITE_A', `/store/temp/user/${user}.abc/${name}`, 100)
    return {
      ...lab.request({ user, task, name, source: 'SITE_A', destination: 'SITE_B', ...w }),
      ...(callbackUrl !== undefined ? { callbackUrl } : {}),
    }
  }
  const inject = async (caller: string, requests: unknown[]) => {
    const r = await call(caller, 'POST', '/transfers', requests)
    return { ...r, results: r.body.results as ItemResult[] }
  }

  beforeAll(async () => {
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }))
    // a path only alice knows: a refusal that showed it would hand bob her receiver
    aliceHook = `${receiver.url}/alice-7f3a91`
    lab = await makeFileLab({
      config: {
        users: { alice: {}, bob: {}, ops: { role: 'operator' } },
        api: {
          callbacks: {
            allowHosts: ['127.0.0.1'],
            secret: SECRET,
            backoff: { initial: '100ms', factor: 2, max: '400ms' },
            timeout: '2s',
          },
        },
      },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true, agent: true })
    const first = await inject('alice', [await output('alice', 'analysis-7', aliceHook)])
    expect(first.results[0]!.status).toBe('created')
  })
  afterAll(async () => {
    await api?.close()
    await receiver?.close()
  })

  it('refuses bob’s files in alice’s task, with or without her callback URL, showing nothing of hers', async () => {
    const r = await inject('bob', [
      await output('bob', 'analysis-7'),
      await output('bob', 'analysis-7', aliceHook),
      await output('bob', 'analysis-7', `${receiver.url}/bob`),
    ])
    expect(r.status).toBe(400)
    for (const x of r.results) {
      expect(x.status).toBe('rejected')
      expect(x.error!.field).toBe('task')
      expect(x.error!.message).toMatch(NEUTRAL('analysis-7'))
    }
    const shown = JSON.stringify(r.body)
    expect(shown).not.toContain('alice')
    expect(shown).not.toContain('7f3a91')
    // an operator injecting for bob follows the same rule
    const op = await inject('ops', [await output('bob', 'analysis-7', aliceHook)])
    expect(op.results[0]).toMatchObject({ status: 'rejected', error: { field: 'task' } })
    expect(op.results[0]!.error!.message).toMatch(NEUTRAL('analysis-7'))
  })

  it('bob using a task name first makes alice’s later inject into it fail the same way, and only that task', async () => {
    expect((await inject('bob', [await output('bob', 'calib-3')])).results[0]!.status).toBe('created')
    for (const callbackUrl of [aliceHook, undefined]) {
      const r = await inject('alice', [await output('alice', 'calib-3', callbackUrl)])
      expect(r.results[0]).toMatchObject({ status: 'rejected', error: { field: 'task' } })
      expect(r.results[0]!.error!.message).toMatch(NEUTRAL('calib-3'))
      expect(JSON.stringify(r.body)).not.toContain('bob')
    }
    // her own tasks, with her callback, are untouched
    const own = await inject('alice', [
      await output('alice', 'analysis-7', aliceHook),
      await output('alice', 'analysis-8', aliceHook),
    ])
    expect(own.results.map((x) => x.status)).toEqual(['created', 'created'])
  })

  it('alice’s receiver is notified of her files only, never of bob’s', async () => {
    await api.agent!.waitFor(
      async () => {
        const all = (await api.store.list({ limit: 1000 })).items
        const settled = all.every((t) => ['DONE', 'FAILED', 'KILLED'].includes(t.state))
        return settled && (await api.store.webhookBacklog()).pending === 0
      },
      30_000,
      'every file terminal and every notification sent',
    )
    const payloads = receiver.received.map((r) => JSON.parse(r.body) as WebhookPayload)
    const alices = (await api.store.list({ user: 'alice', limit: 1000 })).items.filter(
      (t) => t.callbackUrl === aliceHook,
    )
    expect(payloads.map((p) => p.user).sort()).toEqual(alices.map(() => 'alice'))
    expect(payloads.map((p) => p.id).sort()).toEqual(alices.map((t) => t.id).sort())
  })

  it('every task route answers bob about alice’s task exactly as about a missing one; operators see it', async () => {
    const routes: [string, 'GET' | 'POST', (task: string) => string, ((task: string) => unknown)?][] = [
      ['summary', 'GET', (t) => `/tasks/${t}`],
      ['wait', 'GET', (t) => `/tasks/${t}/wait?timeout=1s`],
      ['kill', 'POST', () => '/transfers/kill', (t) => ({ task: t })],
      ['retry', 'POST', () => '/transfers/retry', (t) => ({ task: t })],
    ]
    for (const [what, method, path, body] of routes) {
      const theirs = await call('bob', method, path('analysis-7'), body?.('analysis-7'))
      const missing = await call('bob', method, path('no-such-task'), body?.('no-such-task'))
      expect(missing.status, what).toBe(404)
      expect(theirs.status, what).toBe(404)
      expect(JSON.stringify(theirs.body).replaceAll('analysis-7', 'X'), what).toBe(
        JSON.stringify(missing.body).replaceAll('no-such-task', 'X'),
      )
    }
    const op = await call('ops', 'GET', '/tasks/analysis-7')
    expect(op.status).toBe(200)
    expect(op.body.total).toBe(2)
    expect((await call('alice', 'GET', '/tasks/analysis-7')).status).toBe(200)
  })

  it('refuses a query time that is not a time: negative, fractional or absurd', async () => {
    for (const v of ['-5', '1.5', '99999999999999999999', 'May 5', '+275760-09-13T00:00:00Z']) {
      const r = await call('alice', 'GET', `/transfers?updatedSince=${encodeURIComponent(v)}`)
      expect(r.status, v).toBe(400)
      expect(r.body.error, v).toMatchObject({ code: 'invalid-request', field: 'querystring.updatedSince' })
      expect(r.body.error!.message, v).toMatch(/ISO 8601.*epoch milliseconds/)
    }
    for (const v of ['0', String(Date.now()), '2026-01-31T12:00:00Z', '2026-01-31T12:00:00.5+01:00']) {
      expect((await call('alice', 'GET', `/transfers?updatedSince=${encodeURIComponent(v)}`)).status, v).toBe(
        200,
      )
    }
  })
})
