/**
 * What one user and everyone together may hold open on a real socket: event streams and long-polls per user
 * (429) and in total (503), connections in total, idle connections closed, and requests per identity (429,
 * counted per user, not per address: every test client here is 127.0.0.1).
 */
import net from 'node:net'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'

interface OpenStream {
  status: number
  body: string
  close(): void
}

/** Opens GET `url` as `user`; a 200 stream stays open (its headers are read) until `close()`. */
async function open(api: TestApi, url: string, user: string): Promise<OpenStream> {
  const stop = new AbortController()
  const r = await request(`${api.url}${url}`, { headers: { 'x-aso-user': user }, signal: stop.signal })
  const body = r.statusCode === 200 ? '' : await r.body.text()
  if (r.statusCode === 200) r.body.on('error', () => {}) // aborted by close(): expected
  return { status: r.statusCode, body, close: () => stop.abort() }
}

/** Resolves once the server has `n` connections open. */
async function connectionsReach(api: TestApi, n: number): Promise<void> {
  const server = api.server.app.server
  for (;;) {
    const count = await new Promise<number>((resolve, reject) =>
      server.getConnections((e, c) => (e ? reject(e) : resolve(c))),
    )
    if (count === n) return
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('connection and stream limits', () => {
  let api: TestApi
  let lab: FileLab

  beforeAll(async () => {
    lab = await makeFileLab({
      config: {
        users: { alice: {}, bob: {}, carol: {} },
        api: {
          limits: {
            streams: 3,
            streamsPerUser: 2,
            connections: 8,
            idleTimeout: '3s',
            requests: 1000,
          },
        },
      },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true })
  })
  afterAll(async () => api?.close())

  it('caps event streams and waits per user (429) and in total (503), and frees a place when one closes', async () => {
    const alice = new AsoClient(api.url, { user: 'alice' })
    const injected = await alice.inject([
      lab.request({
        user: 'alice',
        source: 'SITE_A',
        destination: 'SITE_B',
        name: 'w.root',
        task: 'waiting',
        size: 1,
        adler32: '00000001',
      }),
    ])
    await alice.close()
    expect(injected.ok).toBe(true)
    const a1 = await open(api, '/api/v1/events', 'alice')
    expect(a1.status).toBe(200)
    // a long-poll answers only when it ends: it holds alice's second place while it waits
    const stopWait = new AbortController()
    const waiting = request(`${api.url}/api/v1/tasks/waiting/wait?timeout=5m`, {
      headers: { 'x-aso-user': 'alice' },
      signal: stopWait.signal,
    }).catch(() => null)
    let a3: OpenStream
    for (;;) {
      a3 = await open(api, '/api/v1/events', 'alice')
      if (a3.status !== 200) break
      a3.close()
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(a3.status).toBe(429)
    expect(JSON.parse(a3.body).error.message).toMatch(
      /already have 2 event streams or waits open.*close some/,
    )
    const b1 = await open(api, '/api/v1/events', 'bob')
    expect(b1.status).toBe(200)
    const c1 = await open(api, '/api/v1/events', 'carol')
    expect(c1.status).toBe(503)
    expect(JSON.parse(c1.body).error.message).toMatch(/3 event streams and waits open.*try again/)
    // ordinary requests are not streams
    const whoami = await request(`${api.url}/api/v1/whoami`, { headers: { 'x-aso-user': 'carol' } })
    await whoami.body.text()
    expect(whoami.statusCode).toBe(200)
    a1.close()
    for (;;) {
      const again = await open(api, '/api/v1/events', 'carol')
      if (again.status === 200) {
        again.close()
        break
      }
      expect(again.status).toBe(503)
      await new Promise((r) => setTimeout(r, 20))
    }
    stopWait.abort()
    await waiting
    b1.close()
  })

  it('answers 503 with a message past nine tenths of the connections, and closes that connection', async () => {
    await connectionsReach(api, 0)
    const port = Number(new URL(api.url).port)
    const idle = Array.from({ length: 7 }, () => net.connect(port, '127.0.0.1'))
    await connectionsReach(api, 7)
    const s = net.connect(port, '127.0.0.1')
    let answer = ''
    s.on('data', (d) => {
      answer += d
    })
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
    s.write('GET /api/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ASO-User: alice\r\n\r\n')
    // the server closes it after the answer
    await closed
    expect(answer).toMatch(/^HTTP\/1\.1 503 /)
    expect(answer).toMatch(/8 connections open, near its limit of 8: try again in a minute/)
    for (const i of idle) i.destroy()
    await connectionsReach(api, 0)
  })

  it('closes connections past the cap at once, and idle ones after the idle timeout', async () => {
    await connectionsReach(api, 0)
    const sockets: net.Socket[] = []
    const closed: Promise<void>[] = []
    const t0 = Date.now()
    for (let i = 0; i < 8; i++) {
      const s = net.connect(Number(new URL(api.url).port), '127.0.0.1')
      sockets.push(s)
      closed.push(new Promise((resolve) => s.once('close', () => resolve())))
    }
    await connectionsReach(api, 8)
    const extra = net.connect(Number(new URL(api.url).port), '127.0.0.1')
    await new Promise<void>((resolve) => extra.once('close', () => resolve()))
    expect(sockets.filter((s) => s.destroyed)).toHaveLength(0)
    // the 8 that sent nothing are closed by the idle timeout (3 s here), not held for minutes
    await Promise.all(closed)
    expect(Date.now() - t0).toBeLessThan(30_000)
    await connectionsReach(api, 0)
  })
})

describe('requests sent slowly', () => {
  let api: TestApi

  beforeAll(async () => {
    const lab = await makeFileLab({
      config: { users: { alice: {} }, api: { limits: { idleTimeout: '3s', requestTimeout: '1s' } } },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true })
  })
  afterAll(async () => api?.close())

  it('answers 408 and closes a request whose headers still trickle in after requestTimeout', async () => {
    const s = net.connect(Number(new URL(api.url).port), '127.0.0.1')
    let answer = ''
    s.setEncoding('utf8')
    s.on('data', (d: string) => {
      answer += d
    })
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()))
    s.write('GET /api/v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-ASO-User: alice\r\n')
    // a header line every 200 ms: never idle, never done
    const trickle = setInterval(() => s.writable && s.write('X-Slow: 1\r\n'), 200)
    try {
      await closed
    } finally {
      clearInterval(trickle)
    }
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
  })
})

describe('requests per identity', () => {
  let api: TestApi

  beforeAll(async () => {
    const lab = await makeFileLab({
      config: { users: { alice: {}, bob: {} }, api: { limits: { requests: 5, requestWindow: '10m' } } },
    })
    api = await startTestApi(lab.configPath, { insecureDev: true })
  })
  afterAll(async () => api?.close())

  it('answers 429 past the limit for that user only, with a message saying when to come back', async () => {
    const get = async (user: string) => {
      const r = await request(`${api.url}/api/v1/whoami`, { headers: { 'x-aso-user': user } })
      return { status: r.statusCode, headers: r.headers, body: await r.body.json() }
    }
    for (let i = 0; i < 5; i++) expect((await get('alice')).status).toBe(200)
    const refused = await get('alice')
    expect(refused.status).toBe(429)
    expect((refused.body as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'too-many-requests',
      message: expect.stringMatching(/you \("alice"\) sent more than 5 requests.*wait/),
    })
    expect(refused.headers['retry-after']).toBeDefined()
    // the same address, another identity: its own count
    expect((await get('bob')).status).toBe(200)
    // health and metrics are not the API's: never limited
    for (let i = 0; i < 6; i++) {
      const health = await request(`${api.url}/health`)
      await health.body.text()
      expect(health.statusCode).not.toBe(429)
    }
  })
})
