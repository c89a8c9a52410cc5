/**
 * The API over HTTPS with a test CA: grid certificates and RFC 3820 proxies verified in our code (Node's TLS
 * cannot), the DN mapped to a user by `users[].dns`, bearer tokens checked against a JWKS; every refusal says
 * why. Real sockets, real TLS.
 */
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { loadClientAuth } from '../../src/client/credentials.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { makeTestPki, type ProxyCert, type TestPki, type UserCert } from '../support/pki.js'
import { refusal } from '../support/refusal.js'

const ISSUER = 'https://iam.test.example/'

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey']

describe('API over HTTPS', () => {
  let pki: TestPki
  let lab: FileLab
  let api: TestApi
  let alice: UserCert
  let aliceProxy: ProxyCert
  let key: SigningKey
  const clients: AsoClient[] = []
  const client = (auth: ConstructorParameters<typeof AsoClient>[1]) => {
    const c = new AsoClient(api.url, auth)
    clients.push(c)
    return c
  }
  const token = (claims: Record<string, unknown>, exp = '1h') =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('aso')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(key)

  beforeAll(async () => {
    lab = await makeFileLab()
    pki = await makeTestPki(path.join(lab.dir, 'pki'))
    alice = await pki.userCert('alice')
    aliceProxy = await pki.proxy(alice)
    const pair = await generateKeyPair('ES256')
    key = pair.privateKey
    const jwks = path.join(lab.dir, 'jwks.json')
    await writeFile(
      jwks,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    )
    const configured = await makeFileLab({
      dir: lab.dir,
      config: {
        users: {
          alice: { dns: [alice.dn], groups: ['cms'] },
          ops: { dns: ['/DC=ch/DC=cern/OU=Users/CN=ops'], role: 'operator' },
        },
        api: {
          tls: { cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir },
          tokens: {
            issuers: [{ issuer: ISSUER, jwks, audience: 'aso', groupsClaim: 'wlcg.groups' }],
          },
        },
      },
    })
    api = await startTestApi(configured.configPath)
  })

  afterAll(async () => {
    for (const c of clients) await c.close()
    await api?.close()
  })

  it('authenticates an RFC 3820 proxy chain as its user (the end-entity DN, not the proxy DN)', async () => {
    expect(aliceProxy.dn).not.toBe(alice.dn)
    const c = client(await loadClientAuth(api.url, { proxy: aliceProxy.path, caDir: pki.caDir }))
    expect(await c.whoami()).toEqual({
      name: 'alice',
      role: 'user',
      groups: ['cms'],
      vomsRoles: [],
      method: 'certificate',
      dn: alice.dn,
    })
    // and the proxy user may act: an empty listing of her own transfers
    expect(await c.list()).toEqual({ items: [], next: null })
  })

  it('authenticates a plain user certificate and key too', async () => {
    const c = client(
      await loadClientAuth(api.url, { cert: alice.certPath, key: alice.keyPath, caDir: pki.caDir }),
    )
    expect((await c.whoami()).name).toBe('alice')
  })

  it('refuses a certificate signed by an unknown CA, naming the issuer', async () => {
    const foreign = await pki.foreignCa()
    const c = client({ cert: foreign.user.certPem, key: foreign.user.keyPem, ca: [pki.ca.certPem] })
    const e = await refusal(c.whoami())
    expect(e.code).toBe('unauthenticated')
    expect(e.status).toBe(401)
    expect(e.message).toMatch(
      /client certificate was refused: .*issued by an unknown CA: \/DC=org\/DC=example\/CN=Foreign Test CA/,
    )
  })

  it('refuses an expired certificate and an expired proxy, saying when they expired', async () => {
    const old = await pki.userCert('carol', { expired: true })
    const e = await refusal(client({ cert: old.certPem, key: old.keyPem, ca: [pki.ca.certPem] }).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(/certificate \/DC=ch\/DC=cern\/OU=Users\/CN=carol expired on \d{4}-\d\d-\d\d/)

    const stale = await pki.proxy(alice, { expired: true })
    const p = await refusal(
      client({ cert: stale.chainPem, key: stale.keyPem, ca: [pki.ca.certPem] }).whoami(),
    )
    expect(p.status).toBe(401)
    expect(p.message).toMatch(/proxy \/DC=ch\/DC=cern\/OU=Users\/CN=alice\/CN=\d+ expired on/)
    expect(p.message).toMatch(/voms-proxy-init/)
    // the client itself refuses to present an expired proxy file, with the same advice
    const local = await refusal(loadClientAuth(api.url, { proxy: stale.path, caDir: pki.caDir }))
    expect(local.message).toMatch(/expired on .*voms-proxy-init/)
  })

  it('refuses a valid certificate whose DN is not in users[].dns with 403, saying what to add', async () => {
    const dave = await pki.userCert('dave')
    const e = await refusal(client({ cert: dave.certPem, key: dave.keyPem, ca: [pki.ca.certPem] }).whoami())
    expect(e.status).toBe(403)
    expect(e.message).toMatch(/CN=dave is valid but not mapped to an ASO user: .*users\.<name>\.dns/)
  })

  it('asks for a credential when none is presented', async () => {
    const e = await refusal(client({ ca: [pki.ca.certPem] }).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(/no credential: present a grid certificate or proxy .* or a bearer token/)
  })

  it('accepts a bearer token of a configured issuer: username and groups from its claims', async () => {
    const c = client({
      ca: [pki.ca.certPem],
      token: await token({ preferred_username: 'alice', 'wlcg.groups': ['/cms', '/cms/higgs'] }),
    })
    expect(await c.whoami()).toMatchObject({
      name: 'alice',
      role: 'user',
      groups: ['cms'], // a subgroup counts only through api.tokens.groupMap
      method: 'token',
    })
    const ops = client({ ca: [pki.ca.certPem], token: await token({ preferred_username: 'ops' }) })
    expect(await ops.whoami()).toMatchObject({ name: 'ops', role: 'operator' })
  })

  it('refuses expired, foreign and nameless tokens, each with its reason', async () => {
    const expired = await refusal(
      client({ ca: [pki.ca.certPem], token: await token({ preferred_username: 'alice' }, '-1m') }).whoami(),
    )
    expect(expired.status).toBe(401)
    expect(expired.message).toMatch(/token expired: get a new one from https:\/\/iam\.test\.example\//)

    const other = await generateKeyPair('ES256')
    const forged = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('aso')
      .setExpirationTime('1h')
      .sign(other.privateKey)
    const bad = await refusal(client({ ca: [pki.ca.certPem], token: forged }).whoami())
    expect(bad.status).toBe(401)
    expect(bad.message).toMatch(/token was refused: signature verification failed/)

    const foreign = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://elsewhere.example/')
      .setExpirationTime('1h')
      .sign(key)
    const f = await refusal(client({ ca: [pki.ca.certPem], token: foreign }).whoami())
    expect(f.message).toMatch(/issuer https:\/\/elsewhere\.example\/ is not trusted here/)

    const nameless = await refusal(
      client({ ca: [pki.ca.certPem], token: await token({ sub: 'x' }) }).whoami(),
    )
    expect(nameless.message).toMatch(/no "preferred_username" claim/)
  })

  it('is refused by a client that does not trust the server’s CA, with a hint', async () => {
    const foreign = await pki.foreignCa()
    const e = await refusal(
      client({ cert: alice.certPem, key: alice.keyPem, ca: [foreign.certPem] }).whoami(),
    )
    expect(e.code).toBe('unavailable')
    expect(e.message).toMatch(/server certificate could not be verified .*--ca-dir/)
  })

  it('lets the CLI work through the server with --proxy and --ca-dir (exit 3 with the reason otherwise)', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [path.resolve('dist/cli/main.js'), ...args], (e, stdout, stderr) =>
          resolve({ code: e ? Number(e.code) : 0, stdout, stderr }),
        )
      })
    const ok = await run([
      '--server',
      api.url,
      '--proxy',
      aliceProxy.path,
      '--ca-dir',
      pki.caDir,
      'status',
      '--json',
    ])
    expect(ok.code, ok.stderr).toBe(0)
    expect(JSON.parse(ok.stdout)).toMatchObject({ total: 0 })
    const stale = await pki.proxy(alice, { expired: true })
    const refused = await run(['--server', api.url, '--proxy', stale.path, '--ca-dir', pki.caDir, 'status'])
    expect(refused.code).toBe(3)
    expect(refused.stderr).toMatch(/^aso: X\.509 proxy .* expired on .*: run voms-proxy-init/)
  })

  it('serves health, metrics and the OpenAPI document without a credential', async () => {
    const { request, Agent } = await import('undici')
    const dispatcher = new Agent({ connect: { ca: [pki.ca.certPem] } })
    try {
      const doc = await request(`${api.url}/api/openapi.json`, { dispatcher })
      expect(doc.statusCode).toBe(200)
      const openapi = (await doc.body.json()) as { openapi: string; paths: Record<string, unknown> }
      expect(openapi.openapi).toBe('3.1.0')
      expect(Object.keys(openapi.paths)).toEqual(
        expect.arrayContaining([
          '/api/v1/transfers',
          '/api/v1/tasks/{task}/wait',
          '/api/v1/events',
          '/health',
        ]),
      )
      const metrics = await request(`${api.url}/metrics`, { dispatcher })
      expect(metrics.statusCode).toBe(200)
      expect(await metrics.body.text()).toMatch(/^# TYPE aso_transfers gauge$/m)
      const page = await request(`${api.url}/api/docs`, { dispatcher, maxRedirections: 0 } as never)
      expect([200, 302]).toContain(page.statusCode)
      await page.body.dump()
    } finally {
      await dispatcher.close()
    }
  })
})
