/**
 * Cross-site state changes over a real socket: a browser page of another site (Origin, Sec-Fetch-Site) may not
 * kill a task or pause a link, nor may any client post a body that is not application/json (what an HTML form or
 * a "simple" cross-site fetch sends). Our own pages, the CLI and curl with JSON pass. Every answer carries the
 * headers that keep the dashboard out of other sites' frames.
 */
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pino from 'pino'
import { Agent, request } from 'undici'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChangeSignal } from '../../src/api/change-signal.js'
import { type ApiServer, startApiServer } from '../../src/api/server.js'
import { AsoClient } from '../../src/client/client.js'
import { loadConfig } from '../../src/config/load.js'
import { SiteCatalog } from '../../src/sites/catalog.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { makeTestPki } from '../support/pki.js'

const LINK = 'SITE_A->SITE_B'

describe('state changes only from our own origin, only as JSON', () => {
  let lab: FileLab
  let store: Store
  let server: ApiServer
  let taskId: string

  const post = async (url: string, body: string, headers: Record<string, string>) => {
    const r = await request(`${server.url}${url}`, { method: 'POST', body, headers })
    const text = await r.body.text()
    return { status: r.statusCode, headers: r.headers, body: JSON.parse(text) }
  }
  const linkPaused = async () => (await store.linkSettings()).find((s) => s.link === LINK)?.paused ?? false
  const taskState = async () => (await store.get(taskId))?.state

  beforeAll(async () => {
    lab = await makeFileLab({ config: { users: { alice: {}, ops: { role: 'operator' } } } })
    const { config } = loadConfig({ path: lab.configPath })
    store = await openStore(config.database)
    const webRoot = await mkdtemp(path.join(tmpdir(), 'aso-web-'))
    await writeFile(path.join(webRoot, 'index.html'), '<!doctype html><title>ASO</title>')
    server = await startApiServer({
      config,
      store,
      sites: new SiteCatalog(config),
      insecureDev: true,
      listen: '127.0.0.1:0',
      changes: new ChangeSignal(),
      webRoot,
      log: pino({ level: 'silent' }),
    })
    const alice = new AsoClient(server.url, { user: 'alice' })
    const injected = await alice.inject([
      lab.request({
        user: 'alice',
        source: 'SITE_A',
        destination: 'SITE_B',
        name: 'guarded.root',
        task: 'guarded',
        size: 10,
        adler32: '0000abcd',
      }),
    ])
    await alice.close()
    taskId = injected.results[0]!.id!
    expect(injected.results[0]!.status).toBe('created')
  })
  afterAll(async () => {
    await server?.close()
    await store?.close()
  })

  it('refuses a cross-site POST to /transfers/kill and to /links/{link} with 403, changing nothing', async () => {
    const kill = JSON.stringify({ task: 'guarded' })
    const pause = JSON.stringify({ paused: true })
    const json = { 'content-type': 'application/json' }
    const attempts = [
      { 'x-aso-user': 'alice', origin: 'https://evil.example', ...json },
      { 'x-aso-user': 'alice', 'sec-fetch-site': 'cross-site', ...json },
      { 'x-aso-user': 'alice', 'sec-fetch-site': 'same-site', origin: server.url, ...json },
      { 'x-aso-user': 'alice', origin: 'null', ...json },
    ]
    for (const headers of attempts) {
      const a = await post('/api/v1/transfers/kill', kill, headers)
      expect(a.status).toBe(403)
      expect(a.body.error.code).toBe('forbidden')
      expect(a.body.error.message).toMatch(/may not change anything here.*dashboard served by this server/)
      const b = await post(`/api/v1/links/${encodeURIComponent(LINK)}`, pause, {
        ...headers,
        'x-aso-user': 'ops',
      })
      expect(b.status).toBe(403)
      expect(b.body.error.message).toMatch(/may not change anything here/)
    }
    expect(await taskState()).toBe('NEW')
    expect(await linkPaused()).toBe(false)
  })

  it('refuses a body that is not application/json with 415 (forms, text/plain), changing nothing', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const a = await post('/api/v1/transfers/kill', JSON.stringify({ task: 'guarded' }), {
        'x-aso-user': 'alice',
        'content-type': type,
      })
      expect(a.status).toBe(415)
      expect(a.body.error.message).toMatch(/Content-Type: application\/json/)
      const b = await post(`/api/v1/links/${encodeURIComponent(LINK)}`, '{"paused": true}', {
        'x-aso-user': 'ops',
        'content-type': type,
      })
      expect(b.status).toBe(415)
    }
    expect(await taskState()).toBe('NEW')
    expect(await linkPaused()).toBe(false)
  })

  it('accepts the same changes from our own origin (the dashboard) and from clients without Origin', async () => {
    const own = { origin: server.url, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }
    const b = await post(`/api/v1/links/${encodeURIComponent(LINK)}`, '{"paused": true}', {
      ...own,
      'x-aso-user': 'ops',
    })
    expect(b.status).toBe(200)
    expect(await linkPaused()).toBe(true)
    // a bookmark or typed URL is Sec-Fetch-Site: none; curl and the CLI send neither header
    const resume = await post(`/api/v1/links/${encodeURIComponent(LINK)}`, '{"paused": false}', {
      'sec-fetch-site': 'none',
      'x-aso-user': 'ops',
      'content-type': 'application/json; charset=utf-8',
    })
    expect(resume.status).toBe(200)
    const alice = new AsoClient(server.url, { user: 'alice' })
    const killed = await alice.kill({ task: 'guarded' })
    await alice.close()
    expect(killed.killed).toBe(1)
    expect(await taskState()).toBe('KILLED')
  })

  it('sends CSP with frame-ancestors, X-Frame-Options and nosniff on the dashboard and the API', async () => {
    for (const url of ['/', '/tasks/x', '/api/v1/whoami', '/health', '/api/v1/nothing']) {
      const r = await request(`${server.url}${url}`, { headers: { 'x-aso-user': 'alice' } })
      await r.body.text()
      expect(r.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/)
      expect(r.headers['x-frame-options'], url).toBe('DENY')
      expect(r.headers['x-content-type-options'], url).toBe('nosniff')
    }
    const page = await request(`${server.url}/`)
    await page.body.text()
    expect(page.headers['content-type']).toMatch(/text\/html/)
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/)
    expect(page.headers['content-security-policy']).toMatch(/connect-src 'self'/)
    // a cached page revalidated (304, no Content-Type) keeps the page's policy, which the browser then applies
    const etag = page.headers.etag
    expect(etag).toBeDefined()
    const again = await request(`${server.url}/`, { headers: { 'if-none-match': String(etag) } })
    await again.body.text()
    expect(again.statusCode).toBe(304)
    expect(again.headers['content-security-policy']).toMatch(/script-src 'self'/)
  })
})

describe('over HTTPS with a grid certificate (what a browser presents)', () => {
  let api: TestApi
  let agent: Agent

  beforeAll(async () => {
    const lab = await makeFileLab()
    const pki = await makeTestPki(path.join(lab.dir, 'pki'))
    const ops = await pki.userCert('ops')
    const configured = await makeFileLab({
      dir: lab.dir,
      config: {
        users: { ops: { dns: [ops.dn], role: 'operator' } },
        api: { tls: { cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir } },
      },
    })
    api = await startTestApi(configured.configPath)
    agent = new Agent({ connect: { cert: ops.certPem, key: ops.keyPem, ca: pki.ca.certPem } })
  })
  afterAll(async () => {
    await agent?.close()
    await api?.close()
  })

  it('pauses a link only from its own https origin', async () => {
    const pause = (origin: string) =>
      request(`${api.url}/api/v1/links/${encodeURIComponent(LINK)}`, {
        method: 'POST',
        dispatcher: agent,
        headers: { origin, 'content-type': 'application/json' },
        body: '{"paused": true}',
      })
    const evil = await pause('https://evil.example')
    expect(evil.statusCode).toBe(403)
    expect(((await evil.body.json()) as { error: { message: string } }).error.message).toMatch(
      /only pages of https:\/\/127\.0\.0\.1:\d+/,
    )
    // the page's origin with http instead of https is another origin
    const plain = await pause(api.url.replace('https:', 'http:'))
    await plain.body.text()
    expect(plain.statusCode).toBe(403)
    expect((await api.store.linkSettings()).find((l) => l.link === LINK)?.paused ?? false).toBe(false)
    const own = await pause(api.url)
    await own.body.text()
    expect(own.statusCode).toBe(200)
    expect((await api.store.linkSettings()).find((l) => l.link === LINK)?.paused).toBe(true)
  })
})
