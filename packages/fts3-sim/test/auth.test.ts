/**
 * Who the FTS3 double lets in (docs/fts3-rest.md §0, §1, §4, §7): TLS client certificates and RFC 3820
 * proxy chains verified against the CA directory, anonymous callers, the delegation flow with real
 * proxies, the three 419s, bearer tokens checked against a JWKS file, and the auth middleware's HTML.
 */
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { signProxyFromCsr } from 'aso/credentials'
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { delegate, proxySigner, simClient, startTlsSim, type TlsSim } from '../../../test/support/fts3.js'
import { makeTestPki, type ProxyCert, type TestPki, type UserCert } from '../../../test/support/pki.js'
import { startFts3Sim } from '../src/server.js'

const HOUR = 3600_000
const ISSUER = 'https://iam.example.org/'
const AUDIENCE = 'https://fts.example.org'

let dir: string
let pki: TestPki
let alice: UserCert
let bob: UserCert
let aliceProxy: ProxyCert
let bobProxy: ProxyCert
let tls: TlsSim
let signingKey: CryptoKey
let otherKey: CryptoKey

type Obj = Record<string, unknown>
const job = {
  files: [{ sources: ['root://a.example//store/temp/f'], destinations: ['root://b.example//store/user/f'] }],
}
const message = (r: { json: unknown }): unknown => (r.json as Obj).message

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'aso-fts3-auth-'))
  pki = await makeTestPki(path.join(dir, 'pki'))
  ;[alice, bob] = await Promise.all([pki.userCert('alice'), pki.userCert('bob')])
  ;[aliceProxy, bobProxy] = await Promise.all([pki.proxy(alice), pki.proxy(bob)])
  const keys = await generateKeyPair('RS256')
  signingKey = keys.privateKey
  otherKey = (await generateKeyPair('RS256')).privateKey
  const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
  await writeFile(path.join(dir, 'jwks.json'), JSON.stringify({ keys: [jwk] }))
  tls = await startTlsSim(pki, {
    maxActive: 0,
    tokens: { issuers: [{ issuer: ISSUER, jwksFile: path.join(dir, 'jwks.json') }], audience: AUDIENCE },
  })
})

afterAll(async () => {
  await tls?.sim.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

const token = (claims: Obj, key: CryptoKey = signingKey): Promise<string> =>
  new SignJWT({ scope: 'fts', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setNotBefore('-1m')
    .setExpirationTime('1h')
    .sign(key)
const bearer = (t: string) => ({ headers: { authorization: `Bearer ${t}` } })

describe('TLS client certificates', () => {
  it('a proxy chain is accepted: the identity is the user DN, the proxy DN follows it', async () => {
    const who = (await tls.client(aliceProxy).get('/whoami')).json as Obj
    expect(who).toMatchObject({ user_dn: alice.dn, method: 'certificate', dn: [alice.dn, aliceProxy.dn] })
    expect(who.delegation_id).toBe(createHash('sha1').update(alice.dn).digest('hex').slice(0, 16))
  })

  it('a certificate from an unknown CA, or none, makes the anonymous user: 403 on submission', async () => {
    const foreign = await pki.foreignCa()
    for (const client of [tls.client(foreign.user), tls.client()]) {
      const who = (await client.get('/whoami')).json as Obj
      expect(who).toMatchObject({ user_dn: 'anon', method: 'unauthenticated', delegation_id: null })
      const r = await client.request('POST', '/jobs', { body: job })
      expect([r.status, message(r)]).toEqual([403, 'Not enough permissions'])
    }
  })

  it("an Origin that is not the Host is the auth middleware's HTML 403", async () => {
    const r = await tls.client(aliceProxy).get('/whoami', { headers: { origin: 'https://evil.example' } })
    expect(r.status).toBe(403)
    expect(r.headers['content-type']).toMatch(/^text\/html/)
    expect(r.text).toContain('<h1>Forbidden</h1>')
    expect(r.text).toContain('Host and Origin do not match')
  })
})

describe('delegation', () => {
  it('end to end: null, a cached CSR, a signed proxy PUT (201), then the credential', async () => {
    const client = tls.client(bobProxy)
    const dlg = ((await client.get('/whoami')).json as Obj).delegation_id as string
    expect((await client.get(`/delegation/${dlg}`)).json).toBeNull()
    const fresh = await client.get(`/delegation/${dlg}`, {
      headers: { 'user-agent': 'fts-python-client/3.12.1' },
    })
    expect(fresh.json).toEqual([])
    const csr = await client.get(`/delegation/${dlg}/request`)
    expect(csr.status).toBe(200)
    expect(csr.headers['content-type']).toMatch(/^text\/plain/)
    expect(csr.headers['x-delegation-id']).toBe(dlg)
    expect(csr.text).toContain('-----BEGIN CERTIFICATE REQUEST-----')
    expect((await client.get(`/delegation/${dlg}/request`)).text).toBe(csr.text)
    const chain = signProxyFromCsr(csr.text, proxySigner(bobProxy, bob), 6 * HOUR)
    const put = await client.request('PUT', `/delegation/${dlg}/credential`, {
      body: chain,
      contentType: null,
    })
    expect([put.status, put.text]).toEqual([201, ''])
    const view = (await client.get(`/delegation/${dlg}`)).json as Obj
    expect(view.termination_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/)
    expect(view.voms_attrs).toEqual([''])
    expect(tls.sim.delegations().find((d) => d.delegationId === dlg)?.dn).toBe(bob.dn)
    expect((await client.request('POST', '/jobs', { body: job })).status).toBe(200)
    expect((await client.request('DELETE', `/delegation/${dlg}`)).status).toBe(204)
    expect((await client.request('DELETE', `/delegation/${dlg}`)).status).toBe(404)
  })

  it('refuses a chain the stored key did not ask for, and a PUT without a request', async () => {
    const client = tls.client(aliceProxy)
    const dlg = ((await client.get('/whoami')).json as Obj).delegation_id as string
    const csr = (await client.get(`/delegation/${dlg}/request`)).text
    // signed with bob's proxy but presenting alice's certificate as the issuer
    const forged = signProxyFromCsr(csr, proxySigner(bobProxy, bob), 2 * HOUR).replace(
      bobProxy.certPem,
      aliceProxy.certPem,
    )
    const bad = await client.request('PUT', `/delegation/${dlg}/credential`, {
      body: forged,
      contentType: null,
    })
    expect(bad.status).toBe(400)
    expect(message(bad)).toMatch(/^Could not process the proxy: /)
    const carol = await pki.userCert('carol')
    const c = tls.client(carol)
    const carolDlg = ((await c.get('/whoami')).json as Obj).delegation_id as string
    const none = await c.request('PUT', `/delegation/${carolDlg}/credential`, {
      body: 'x',
      contentType: null,
    })
    expect([none.status, message(none)]).toEqual([400, 'No credential cache found'])
  })

  it("another user's delegation id is 403; the anonymous user needs a certificate", async () => {
    const aliceDlg = ((await tls.client(aliceProxy).get('/whoami')).json as Obj).delegation_id as string
    const r = await tls.client(bobProxy).get(`/delegation/${aliceDlg}/request`)
    expect([r.status, message(r)]).toEqual([403, 'The requested ID and the credentials ID do not match'])
    const anon = await tls.client().get(`/delegation/${aliceDlg}/request`)
    expect([anon.status, message(anon)]).toEqual([403, 'Certificate required'])
  })

  it('submission needs a live delegation: the three 419 texts, status line "419 UNKNOWN"', async () => {
    const dave = await pki.userCert('dave')
    const daveProxy = await pki.proxy(dave, { hours: 24 })
    const client = tls.client(daveProxy)
    const none = await client.request('POST', '/jobs', { body: job })
    expect([none.status, none.statusMessage]).toEqual([419, 'UNKNOWN'])
    expect(none.json).toEqual({
      status: '419 Unknown Error',
      message: `No delegation found for "${dave.dn}"`,
    })
    const dlg = await delegate(client, proxySigner(daveProxy, dave), 30 * 60_000)
    const short = await client.request('POST', '/jobs', { body: job })
    expect([short.status, message(short)]).toEqual([
      419,
      `The delegated credentials has less than one hour left (${dlg})`,
    ])
    const csr = (await client.get(`/delegation/${dlg}/request`)).text
    const expired = signProxyFromCsr(
      csr,
      proxySigner(daveProxy, dave),
      60_000,
      new Date(Date.now() - 10 * 60_000),
    )
    expect(
      (await client.request('PUT', `/delegation/${dlg}/credential`, { body: expired, contentType: null }))
        .status,
    ).toBe(201)
    const late = await client.request('POST', '/jobs', { body: job })
    expect(late.status).toBe(419)
    expect(message(late)).toMatch(
      new RegExp(`^The delegated credentials expired \\d+ seconds ago \\(${dlg}\\)$`),
    )
  })
})

describe('jobs of other users', () => {
  it("another user's job is 403 in shape 2", async () => {
    const a = tls.client(aliceProxy)
    await delegate(a, proxySigner(aliceProxy, alice))
    const id = ((await a.request('POST', '/jobs', { body: job })).json as Obj).job_id as string
    const r = await tls.client(bobProxy).get(`/jobs/${id}`)
    expect(r.status).toBe(403)
    expect(r.json).toEqual({
      job_id: id,
      http_status: '403 Forbidden',
      http_message: `Not enough permissions to check the job "${id}"`,
    })
    expect((await tls.client(bobProxy).request('DELETE', `/jobs/${id}`)).status).toBe(403)
  })
})

describe('bearer tokens', () => {
  it('a token signed by a known issuer is an oauth2 user whose delegation id is sha1(iss+sub)', async () => {
    const client = tls.client()
    const who = (await client.get('/whoami', bearer(await token({ sub: 'user-123' })))).json as Obj
    expect(who).toMatchObject({ method: 'oauth2', user_dn: 'user-123', vos: ['iam.example.org'] })
    expect(who.delegation_id).toBe(createHash('sha1').update(`${ISSUER}user-123`).digest('hex').slice(0, 16))
    // no delegation needed
    const r = await client.request('POST', '/jobs', {
      body: job,
      ...bearer(await token({ sub: 'user-123' })),
    })
    expect(r.status).toBe(200)
    const id = (r.json as Obj).job_id as string
    expect(
      ((await client.get(`/jobs/${id}`, bearer(await token({ sub: 'x' })))).json as Obj).job_metadata,
    ).toEqual({
      auth_method: 'oauth2',
    })
    const dlg = await client.get(
      `/delegation/${who.delegation_id}/request`,
      bearer(await token({ sub: 'user-123' })),
    )
    expect([dlg.status, message(dlg)]).toEqual([403, 'Certificate required'])
  })

  it('a token that does not validate leaves the caller anonymous', async () => {
    const who = (await tls.client().get('/whoami', bearer(await token({ sub: 'u' }, otherKey)))).json as Obj
    expect(who.user_dn).toBe('anon')
  })

  it("a valid token without a subject is the middleware's HTML 401; a missing FTS scope its HTML 403", async () => {
    const r = await tls.client().get('/whoami', bearer(await token({ sub: '' })))
    expect(r.status).toBe(401)
    expect(r.headers['content-type']).toMatch(/^text\/html/)
    expect(r.text).toContain('<title>401 Unauthorized</title>')
    const scoped = await startFts3Sim({
      tokens: {
        issuers: [{ issuer: ISSUER, jwksFile: path.join(dir, 'jwks.json') }],
        audience: AUDIENCE,
        scope: 'fts:submit',
      },
    })
    try {
      const s = await simClient(scoped.url).get('/whoami', bearer(await token({ sub: 'u' })))
      expect(s.status).toBe(403)
      expect(s.text).toContain(
        '<p>Invalid credentials (Invalid scope: &#39;fts:submit&#39; scope required)</p>',
      )
    } finally {
      await scoped.close()
    }
  })
})

describe('bans and /status/hosts (docs/fts3-rest.md §1 "Bans and server status")', () => {
  it('need root: others get 403, token users "Certificate required" on /status/hosts', async () => {
    const user = tls.client(aliceProxy)
    for (const [method, url] of [
      ['POST', '/ban/se'],
      ['DELETE', '/ban/se?storage=root%3A%2F%2Fx'],
      ['GET', '/ban/dn'],
      ['GET', '/status/hosts'],
    ] as const) {
      const r = await user.request(method, url, method === 'POST' ? { body: { storage: 'root://x' } } : {})
      expect([r.status, message(r)]).toEqual([403, 'Not enough permissions'])
    }
    const r = await tls.client().get('/status/hosts', bearer(await token({ sub: 'carol' })))
    expect([r.status, message(r)]).toEqual([403, 'Certificate required'])
  })

  it('root: the 400s and the 409, form fields, a listing, 204 on unban, and the methods OPTIONS lists', async () => {
    const root = tls.client(pki.host)
    const ban = (body: unknown, contentType?: string) =>
      root.request('POST', '/ban/se', { body, contentType })
    expect(message(await ban({}))).toBe('Missing storage parameter')
    expect(message(await ban({ storage: 'root://x', status: 'later' }))).toBe(
      'status can only be cancel or wait',
    )
    expect(message(await ban({ storage: 'root://x', allow_submit: true }))).toBe(
      'allow_submit and status = CANCEL can not be combined',
    )
    expect(message(await ban('{', 'application/json'))).toBe('Malformed input')
    const form = await ban(
      'storage=root%3A%2F%2Fform.example&status=wait',
      'application/x-www-form-urlencoded',
    )
    expect([form.status, form.json]).toEqual([200, []])
    const listed = (await root.get('/ban/se')).json as Obj[]
    expect(listed.map((b) => [b.se, b.status, b.admin_dn])).toContainEqual([
      'root://form.example',
      'WAIT',
      pki.host.dn,
    ])
    expect(message(await root.request('DELETE', '/ban/se'))).toBe('Missing storage parameter')
    expect((await root.request('DELETE', '/ban/se?storage=root%3A%2F%2Fform.example')).status).toBe(204)
    expect((await root.get('/ban/se')).json).toEqual([])

    const self = await root.request('POST', '/ban/dn', { body: { user_dn: pki.host.dn } })
    expect([self.status, message(self)]).toEqual([409, 'The user tried to ban (her|his)self'])
    expect(message(await root.request('POST', '/ban/dn', { body: {} }))).toBe('Missing dn parameter')
    expect(message(await root.request('DELETE', '/ban/dn'))).toBe('Missing user_dn parameter')
    const options = await root.request('OPTIONS', '/ban/se')
    expect([options.status, options.headers.allow]).toEqual([200, 'DELETE, GET, HEAD, OPTIONS, POST'])
    expect((await root.get('/status/hosts')).json).toEqual({})
  })
})
