/**
 * A webhook receiver on 127.0.0.1 that does what the docs ask of one: it verifies every request with the
 * Standard Webhooks reference library (signature over "id.timestamp.body", timestamp at most 5 minutes off)
 * before answering, and refuses (401) what does not verify. It can be taken down and brought back on the same
 * port, and told to answer some deliveries with an error.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Webhook } from 'standardwebhooks'

/** One request as it arrived, and what the receiver made of it. */
export interface ReceivedWebhook {
  headers: Record<string, string>
  body: string
  /** Date.now() when the body was complete */
  arrivedAt: number
  /** null when the library verified it, else the library's reason */
  refused: string | null
  /** the HTTP status answered */
  status: number
}

export interface WebhookReceiver {
  url: string
  received: ReceivedWebhook[]
  down(): Promise<void>
  up(): Promise<void>
  close(): Promise<void>
}

/**
 * Starts the receiver. `answer` picks the status of a verified request (204 when it returns undefined), e.g. a
 * 500 for the first delivery of each webhook-id.
 */
export async function startWebhookReceiver(
  verifier: Webhook,
  answer?: (r: ReceivedWebhook, received: readonly ReceivedWebhook[]) => number | undefined,
): Promise<WebhookReceiver> {
  const received: ReceivedWebhook[] = []
  let server: Server | null = null
  let port = 0
  const handle = (req: IncomingMessage, body: string) => {
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v
    const r: ReceivedWebhook = { headers, body, arrivedAt: Date.now(), refused: null, status: 204 }
    try {
      verifier.verify(body, headers)
      r.status = answer?.(r, received) ?? 204
    } catch (e) {
      r.refused = (e as Error).message
      r.status = 401
    }
    received.push(r)
    return r
  }
  const up = async () => {
    server = createServer((req, res) => {
      let body = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => {
        body += c
      })
      req.on('end', () => {
        const r = handle(req, body)
        res.writeHead(r.status, { 'content-type': 'text/plain' }).end(r.refused ?? '')
      })
    })
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve))
    port = (server!.address() as AddressInfo).port
  }
  const down = async () => {
    const s = server
    server = null
    if (!s) return
    const closed = new Promise<void>((resolve) => s.close(() => resolve()))
    s.closeAllConnections()
    await closed
  }
  await up()
  return { url: `http://127.0.0.1:${port}/hook`, received, down, up, close: down }
}
