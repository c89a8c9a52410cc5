/**
 * Webhook signing keys and signatures: `whsec_<base64>` secrets are decoded, raw secrets are their UTF-8 bytes,
 * and what ASO signs verifies with the Standard Webhooks reference library; a bad secret is refused when the
 * configuration is read, with a message that says how to make a good one and never quotes the secret.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import { AsoError } from '../../src/domain/errors.js'
import {
  legacySignature,
  webhookHeaders,
  webhookKey,
  webhookSecretProblem,
} from '../../src/domain/webhook-signature.js'

const BODY = '{"type":"transfer.terminal","id":"abc","lfn":"/store/user/é"}'

describe('webhook signatures', () => {
  it('signs id.timestamp.body with a whsec_ key, as the reference library verifies', () => {
    const secret = `whsec_${randomBytes(32).toString('base64')}`
    const now = Date.now()
    const h = webhookHeaders(webhookKey(secret, 'api.callbacks.secret'), 'msg_1_a', now, BODY)
    expect(new Webhook(secret).verify(BODY, h)).toMatchObject({ id: 'abc' })
    expect(h['webhook-timestamp']).toBe(String(Math.floor(now / 1000)))
    expect(h['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/)
  })

  it('reads a raw secret as its UTF-8 bytes, for both signatures', () => {
    const raw = 'päss-wörd-0123456789'
    const h = webhookHeaders(webhookKey(raw, 'api.callbacks.secret'), 'msg_2_b', Date.now(), BODY)
    expect(new Webhook(Buffer.from(raw, 'utf8'), { format: 'raw' }).verify(BODY, h)).toMatchObject({
      id: 'abc',
    })
    // the same header as before the Standard Webhooks form
    expect(h['x-aso-signature']).toBe(`sha256=${createHmac('sha256', raw).update(BODY).digest('hex')}`)
    expect(legacySignature(raw, BODY)).toBe(h['x-aso-signature'])
  })

  it('refuses a bad secret in the configuration, saying how to make one, without quoting it', () => {
    const cfg = (secret: string) => () => parseConfig({ api: { callbacks: { allowHosts: ['h'], secret } } })
    expect(cfg('whsec_not*base64!and-long-enough')).toThrow(
      /api\.callbacks\.secret: after "whsec_" must come the key in standard base64.*openssl rand -base64 32/,
    )
    expect(cfg('whsec_not*base64!and-long-enough')).not.toThrow(/not\*base64/)
    expect(cfg(`whsec_${randomBytes(16).toString('base64')}`)).toThrow(/at least 24 bytes \(it has 16\)/)
    expect(cfg('short')).toThrow(/api\.callbacks\.secret: must be at least 16 characters/)
    expect(cfg(`whsec_${randomBytes(24).toString('base64')}`)).not.toThrow()
    expect(cfg('a-raw-secret-of-20ch')).not.toThrow()
    expect(webhookSecretProblem('whsec_')).toMatch(/at least 24 bytes \(it has 0\)/)
  })

  it('names the secret file whose content is unusable', () => {
    expect(() => webhookKey('whsec_@@@@', 'api.callbacks.secretFile /etc/aso/hook.key')).toThrow(AsoError)
    expect(() => webhookKey('whsec_@@@@', 'api.callbacks.secretFile /etc/aso/hook.key')).toThrow(
      /^api\.callbacks\.secretFile \/etc\/aso\/hook\.key: after "whsec_"/,
    )
  })
})
