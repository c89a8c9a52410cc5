/**
 * Webhook signatures in the Standard Webhooks form (standardwebhooks.com): the HMAC-SHA256 of
 * "<webhook-id>.<webhook-timestamp>.<body>", so a captured request cannot be replayed later (the receiver
 * refuses a timestamp more than 5 minutes off) nor under another id (receivers dedupe by id). Also the legacy
 * `X-ASO-Signature` over the body alone, sent for one more release.
 */
import { createHmac } from 'node:crypto'
import { AsoError } from './errors.js'

/** The prefix of a Standard Webhooks secret: the key follows in base64. */
export const WHSEC_PREFIX = 'whsec_'
/** The Standard Webhooks spec asks for keys of 24 to 64 bytes. */
const MIN_WHSEC_BYTES = 24
/** Raw secrets (the form before whsec_) kept their old minimum. */
const MIN_RAW_CHARS = 16
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/**
 * What is wrong with a configured webhook secret, or null. Never quotes the secret: the message may be logged.
 */
export function webhookSecretProblem(secret: string): string | null {
  if (!secret.startsWith(WHSEC_PREFIX)) {
    return secret.length < MIN_RAW_CHARS
      ? `must be at least ${MIN_RAW_CHARS} characters; better, a Standard Webhooks secret: whsec_$(openssl rand -base64 32)`
      : null
  }
  const b64 = secret.slice(WHSEC_PREFIX.length)
  if (!BASE64.test(b64))
    return 'after "whsec_" must come the key in standard base64 (A-Z a-z 0-9 + /, padded with =), e.g. whsec_$(openssl rand -base64 32)'
  const bytes = Buffer.from(b64, 'base64').length
  if (bytes < MIN_WHSEC_BYTES)
    return `a whsec_ key must be at least ${MIN_WHSEC_BYTES} bytes (it has ${bytes}): whsec_$(openssl rand -base64 32)`
  return null
}

/**
 * The HMAC key of a configured secret: `whsec_<base64>` is the decoded bytes; any other (raw) secret is its
 * UTF-8 bytes, as it always was. Throws AsoError('invalid-config') naming `where` when the secret is unusable.
 */
export function webhookKey(secret: string, where: string): Buffer {
  const problem = webhookSecretProblem(secret)
  if (problem !== null) throw new AsoError('invalid-config', `${where}: ${problem}`, { field: where })
  return secret.startsWith(WHSEC_PREFIX)
    ? Buffer.from(secret.slice(WHSEC_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8')
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`: the `webhook-signature` header. */
export function standardSignature(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** `sha256=<hex HMAC-SHA256 of the body>`: the deprecated `X-ASO-Signature` header (no id, no timestamp). */
export function legacySignature(key: Buffer | string, body: string): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`
}

/**
 * The signing headers of one delivery attempt: `webhook-id` is the event's (the same on every attempt),
 * `webhook-timestamp` this attempt's time in seconds.
 */
export function webhookHeaders(
  key: Buffer,
  id: string,
  nowMs: number,
  body: string,
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature' | 'x-aso-signature', string> {
  const timestamp = Math.floor(nowMs / 1000)
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': standardSignature(key, id, timestamp, body),
    'x-aso-signature': legacySignature(key, body),
  }
}
