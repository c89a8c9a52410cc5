/**
 * The notifier alone, against a real webhook receiver on 127.0.0.1 that verifies each request: a terminal state
 * is delivered once, signed; a refused delivery is tried again after its backoff under the same webhook-id,
 * and given up after `maxAttempts`; without a signing secret nothing is sent.
 */
import { Webhook } from 'standardwebhooks'
import { afterEach, describe, expect, it } from 'vitest'
import { Notifier } from '../../../src/agent/notifier.js'
import { type LoopLab, makeLoopLab } from '../../support/loop-lab.js'
import { startWebhookReceiver, type WebhookReceiver } from '../../support/webhook-receiver.js'

const SECRET = 'loop-lab-webhook-secret-0123456789'

describe('notifier', () => {
  let lab: LoopLab
  let receiver: WebhookReceiver | undefined
  afterEach(async () => {
    await lab?.close()
    await receiver?.close()
    receiver = undefined
  })

  /** A lab whose callbacks are signed with SECRET (none: not configured), one DONE file calling `url` back. */
  async function doneFileCallingBack(url: string, callbacks: Record<string, unknown> = { secret: SECRET }) {
    lab = await makeLoopLab({
      config: { api: { callbacks: { backoff: { initial: '5s', factor: 2, max: '1m' }, ...callbacks } } },
    })
    const [id] = await lab.inject(1, () => ({ callbackUrl: url }))
    const [job] = await lab.submitted()
    await lab.record(lab.outcomes(job!, 'done'))
    return id!
  }

  it('delivers a terminal state once, signed, and records it delivered', async () => {
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }))
    const id = await doneFileCallingBack(receiver.url)
    const notifier = new Notifier(lab.ctx)
    expect(await notifier.run()).toBe(1)
    expect(receiver.received).toHaveLength(1)
    const [r] = receiver.received
    expect([r!.refused, r!.status]).toEqual([null, 204])
    expect(JSON.parse(r!.body)).toMatchObject({ type: 'transfer.terminal', id, state: 'DONE' })
    expect(await lab.store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })

    expect(await notifier.run()).toBe(0)
    expect(receiver.received).toHaveLength(1)
  })

  it('tries a refused delivery again after its backoff, under the same webhook-id', async () => {
    // the first request of each webhook-id is answered 500
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }), (r, received) =>
      received.some((x) => x.headers['webhook-id'] === r.headers['webhook-id']) ? undefined : 500,
    )
    await doneFileCallingBack(receiver.url)
    const notifier = new Notifier(lab.ctx)
    expect(await notifier.run()).toBe(1)
    expect(receiver.received.map((r) => r.status)).toEqual([500])
    expect(await lab.store.webhookBacklog()).toEqual({ pending: 1, failed: 0 })

    // not before its backoff (5 s, give or take a tenth)
    lab.clock.advance(4000)
    expect(await notifier.run()).toBe(0)
    expect(receiver.received).toHaveLength(1)

    lab.clock.advance(2000)
    expect(await notifier.run()).toBe(1)
    const [first, second] = receiver.received
    expect(second!.status).toBe(204)
    expect(second!.headers['webhook-id']).toBe(first!.headers['webhook-id'])
    expect(Number(second!.headers['webhook-timestamp'])).toBeGreaterThan(
      Number(first!.headers['webhook-timestamp']),
    )
    expect(await lab.store.webhookBacklog()).toEqual({ pending: 0, failed: 0 })
  })

  it('gives a delivery up after maxAttempts', async () => {
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }), () => 503)
    await doneFileCallingBack(receiver.url, { secret: SECRET, maxAttempts: 2 })
    const notifier = new Notifier(lab.ctx)
    expect(await notifier.run()).toBe(1)
    lab.clock.advance(60_000)
    expect(await notifier.run()).toBe(1)
    expect(await lab.store.webhookBacklog()).toEqual({ pending: 0, failed: 1 })
    lab.clock.advance(3_600_000)
    expect(await notifier.run()).toBe(0)
    expect(receiver.received.map((r) => r.status)).toEqual([503, 503])
  })

  it('sends nothing when no signing secret is configured', async () => {
    receiver = await startWebhookReceiver(new Webhook(SECRET, { format: 'raw' }))
    await doneFileCallingBack(receiver.url, {})
    expect(await new Notifier(lab.ctx).run()).toBe(0)
    expect(receiver.received).toEqual([])
    expect(await lab.store.webhookBacklog()).toEqual({ pending: 1, failed: 0 })
  })
})
