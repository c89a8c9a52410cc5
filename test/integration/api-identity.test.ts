/**
 * Identity over real HTTPS (issue 16 items 5, 6, 8): DNs matched RDN by RDN, the CA directory's CRL and
 * namespace policy applied to client certificates, independent and legacy proxies refused with a message,
 * token groups read as whole paths. A test CA from openssl; `aso serve`'s server on loopback.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AsoClient } from '../../src/client/client.js'
import { startTestApi, type TestApi } from '../support/api.js'
import { type FileLab, makeFileLab } from '../support/file-sites.js'
import { makeTestPki, type TestPki, type UserCert } from '../support/pki.js'
import { refusal } from '../support/refusal.js'
import { makeTokenIssuer } from '../support/token-issuer.js'

const ISSUER = 'https://iam.test.example/'
const CA = '/DC=ch/DC=cern/CN=ASO Test CA'

async function serve(lab: FileLab, pki: TestPki, config: Record<string, unknown>): Promise<TestApi> {
  const configured = await makeFileLab({
    dir: lab.dir,
    config: {
      ...config,
      api: {
        tls: { cert: pki.host.certPath, key: pki.host.keyPath, caDir: pki.caDir },
        ...(config.api as object | undefined),
      },
    },
  })
  return startTestApi(configured.configPath)
}

describe('identity over HTTPS', () => {
  let lab: FileLab
  let pki: TestPki
  let api: TestApi
  let alice: UserCert
  let bob: UserCert
  let sign: (claims: Record<string, unknown>) => Promise<string>
  const clients: AsoClient[] = []
  const client = (auth: ConstructorParameters<typeof AsoClient>[1]) => {
    const c = new AsoClient(api.url, { ca: [pki.ca.certPem], ...auth })
    clients.push(c)
    return c
  }
  const asCert = (u: { certPem: string; keyPem: string }) => client({ cert: u.certPem, key: u.keyPem })

  beforeAll(async () => {
    lab = await makeFileLab()
    pki = await makeTestPki(path.join(lab.dir, 'pki'))
    alice = await pki.userCert('alice')
    bob = await pki.userCert('bob')
    await pki.revoke(bob)
    await pki.writeCrl()
    await writeFile(
      path.join(pki.caDir, `${pki.caHash}.namespaces`),
      `TO Issuer "${CA}" PERMIT Subject "/DC=ch/DC=cern/.*"\n`,
    )
    const jwks = path.join(lab.dir, 'jwks.json')
    ;({ sign } = await makeTokenIssuer(jwks, ISSUER))
    api = await serve(lab, pki, {
      users: {
        alice: { dns: [alice.dn] },
        bob: { dns: [bob.dn] },
        eve: { dns: ['/DC=org/DC=elsewhere/CN=eve'] },
      },
      api: {
        tokens: {
          issuers: [{ issuer: ISSUER, jwks, groupsClaim: 'wlcg.groups' }],
          groupMap: { '/cms/higgs': 'cms-higgs' },
        },
      },
    })
  })

  afterAll(async () => {
    for (const c of clients) await c.close()
    await api?.close()
  })

  it('does not take a subject with OU="Users/CN=alice" for alice (403, not mapped)', async () => {
    expect((await asCert(alice).whoami()).name).toBe('alice')
    const forged = await pki.certWithSubject('/DC=ch/DC=cern/OU=Users\\/CN=alice')
    const e = await refusal(asCert(forged).whoami())
    expect(e.status).toBe(403)
    expect(e.message).toMatch(/is valid but not mapped to an ASO user/)
  })

  it('refuses a revoked certificate, saying so', async () => {
    const e = await refusal(asCert(bob).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(
      new RegExp(`certificate ${bob.dn} \\(serial [0-9a-f]+\\) was revoked by its CA`),
    )
  })

  it('refuses a certificate outside its CA namespace, naming the policy', async () => {
    const eve = await pki.certWithSubject('/DC=org/DC=elsewhere/CN=eve')
    const e = await refusal(asCert(eve).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(
      /CA .* may not sign \/DC=org\/DC=elsewhere\/CN=eve: its namespace policy .*\.namespaces/,
    )
  })

  it('refuses an independent proxy as its user', async () => {
    const p = await pki.proxy(alice, { proxyCertInfo: 'critical,language:id-ppl-independent' })
    const e = await refusal(client({ cert: p.chainPem, key: p.keyPem }).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(
      /is an independent proxy \(id-ppl-independent\): it does not carry the identity of/,
    )
  })

  it('refuses a legacy proxy with the message that says to make an RFC 3820 proxy', async () => {
    const p = await pki.proxy(alice, { legacy: true })
    const e = await refusal(client({ cert: p.chainPem, key: p.keyPem }).whoami())
    expect(e.status).toBe(401)
    expect(e.message).toMatch(
      /is a legacy \(pre-RFC 3820, Globus GT2\) proxy, which ASO does not accept: make an RFC 3820 proxy/,
    )
  })

  it('reads token groups as whole paths: /atlas/cms is not cms, a mapped subgroup is its group', async () => {
    const as = async (groups: string[]) =>
      (await client({ token: await sign({ preferred_username: 'alice', 'wlcg.groups': groups }) }).whoami())
        .groups
    expect(await as(['/atlas/cms'])).toEqual([])
    expect(await as(['/cms', '/cms/higgs', '/cms/top'])).toEqual(['cms', 'cms-higgs'])
  })
})

describe('an out-of-date CRL over HTTPS', () => {
  it('refuses the certificates of its CA, saying to run fetch-crl', async () => {
    const lab = await makeFileLab()
    const pki = await makeTestPki(path.join(lab.dir, 'pki'))
    const alice = await pki.userCert('alice')
    await pki.writeCrl({ expired: true })
    const api = await serve(lab, pki, { users: { alice: { dns: [alice.dn] } } })
    const c = new AsoClient(api.url, { ca: [pki.ca.certPem], cert: alice.certPem, key: alice.keyPem })
    try {
      const e = await refusal(c.whoami())
      expect(e.status).toBe(401)
      expect(e.message).toMatch(
        new RegExp(`the CRL of CA ${CA} \\(.*${pki.caHash}\\.r0\\) is out of date .* run fetch-crl`),
      )
    } finally {
      await c.close()
      await api.close()
    }
  })
})
