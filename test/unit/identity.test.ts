/**
 * Who a credential proves to be (issue 16 items 5 and 6): token groups as whole paths (a subgroup only through
 * api.tokens.groupMap, the same rule for VOMS FQANs), and certificate DNs compared as RDN sequences read from
 * the certificate, with configured DNs refused when they cannot be parsed one way only.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TokenIdentity } from '../../src/api/auth/token-identity.js'
import { gridMap } from '../../src/api/auth/users.js'
import { parseConfig } from '../../src/config/load.js'
import { loadTrustStore, verifyChain } from '../../src/credentials/index.js'
import { makeTestPki, type TestPki } from '../support/pki.js'
import { makeTokenIssuer } from '../support/token-issuer.js'

const ISSUER = 'https://iam.test.example/'

let dir: string
let pki: TestPki
let jwks: string
let sign: (claims: Record<string, unknown>) => Promise<string>

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aso-identity-'))
  pki = await makeTestPki(join(dir, 'pki'))
  jwks = join(dir, 'jwks.json')
  ;({ sign } = await makeTokenIssuer(jwks, ISSUER))
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

async function groupsOf(groups: unknown, groupMap?: Record<string, string>, debug?: (m: string) => void) {
  const config = parseConfig({
    api: {
      tokens: {
        issuers: [{ issuer: ISSUER, jwks, groupsClaim: 'wlcg.groups' }],
        ...(groupMap ? { groupMap } : {}),
      },
    },
  })
  const tokens = await TokenIdentity.create(config)
  const caller = await tokens.callerOf(
    await sign({ preferred_username: 'alice', 'wlcg.groups': groups }),
    debug,
  )
  return caller.identity.groups
}

describe('token groups are whole paths', () => {
  it('does not give group cms to a member of /atlas/cms', async () => {
    expect(await groupsOf(['/atlas/cms'])).toEqual([])
    expect(await groupsOf(['/atlas', '/atlas/cms'])).toEqual(['atlas'])
  })

  it('gives a top-level group its name, and a subgroup only through api.tokens.groupMap', async () => {
    const debug: string[] = []
    expect(await groupsOf(['/cms', '/cms/higgs'], undefined, (m) => debug.push(m))).toEqual(['cms'])
    expect(debug).toEqual([expect.stringMatching(/subgroup \/cms\/higgs is not in api\.tokens\.groupMap/)])
    expect(await groupsOf(['/cms', '/cms/higgs'], { '/cms/higgs': 'cms-higgs' })).toEqual([
      'cms',
      'cms-higgs',
    ])
    // a space-separated string claim is read the same way
    expect(await groupsOf('/cms /cms/higgs', { '/cms/higgs': 'cms-higgs' })).toEqual(['cms', 'cms-higgs'])
  })

  it('ignores bare names: WLCG groups are paths', async () => {
    const debug: string[] = []
    expect(await groupsOf(['cms', '/atlas'], undefined, (m) => debug.push(m))).toEqual(['atlas'])
    expect(debug).toEqual([expect.stringMatching(/"cms" is not a group path/)])
  })

  it('refuses a groupMap whose keys are not paths or whose values are not group names', () => {
    expect(() => parseConfig({ api: { tokens: { groupMap: { 'cms/higgs': 'x' } } } })).toThrow(
      /api\.tokens\.groupMap.*group paths such as \/cms\/higgs/,
    )
    expect(() => parseConfig({ api: { tokens: { groupMap: { '/cms/higgs': 'a/b' } } } })).toThrow(
      /ASO group names/,
    )
  })

  it('reads VOMS FQANs by the same rule', async () => {
    const { groupsOfFqans } = await import('../../src/api/auth/group-paths.js')
    const fqans = [
      '/cms/Role=NULL/Capability=NULL',
      '/cms/higgs/Role=production/Capability=NULL',
      '/atlas/cms',
    ]
    expect(groupsOfFqans(fqans, {})).toEqual(['cms'])
    expect(groupsOfFqans(fqans, { '/cms/higgs': 'cms-higgs' })).toEqual(['cms', 'cms-higgs'])
  })
})

describe('DNs are RDN sequences', () => {
  it('does not map a certificate whose OU holds "Users/CN=alice" to alice', async () => {
    const alice = await pki.userCert('alice')
    const forged = await pki.certWithSubject('/DC=ch/DC=cern/OU=Users\\/CN=alice')
    const config = parseConfig({ users: { alice: { dns: ['/DC=ch/DC=cern/OU=Users/CN=alice'] } } })
    const userOf = gridMap(config)
    const store = await loadTrustStore(pki.caDir)
    const real = await verifyChain(alice.certPem, store)
    const fake = await verifyChain(forged.certPem, store)
    if (!real.ok || !fake.ok) throw new Error('both certificates are valid')
    expect(fake.identityDn).toBe(real.identityDn) // the printed forms are the same text...
    expect(userOf(real.identityRdns)).toBe('alice')
    expect(userOf(fake.identityRdns)).toBeUndefined() // ...the names are not
  })

  it('keeps a slash inside a value when no attribute follows it (host certificates)', () => {
    const config = parseConfig({ users: { svc: { dns: ['/DC=ch/DC=cern/CN=host/aso.example.org'] } } })
    const userOf = gridMap(config)
    const rdns = [
      [{ oid: '0.9.2342.19200300.100.1.25', name: 'DC', value: 'ch' }],
      [{ oid: '0.9.2342.19200300.100.1.25', name: 'DC', value: 'cern' }],
      [{ oid: '2.5.4.3', name: 'CN', value: 'host/aso.example.org' }],
    ]
    expect(userOf(rdns)).toBe('svc')
  })

  it('refuses configured DNs that cannot be read one way only, naming the user and the fix', () => {
    expect(() => parseConfig({ users: { bob: { dns: ['CN=bob,OU=Users,DC=cern,DC=ch'] } } })).toThrow(
      /users\.bob\.dns\.0: user bob: .*not in the OpenSSL slash form.*\/DC=org\/DC=example\/OU=Users\/CN=alice/,
    )
    expect(() => parseConfig({ users: { bob: { dns: ['/DC=ch/DC=cern/OU=Users/foo=x/CN=bob'] } } })).toThrow(
      /user bob: "foo" .* is not an attribute name/,
    )
    expect(() => parseConfig({ users: { bob: { dns: ['/DC=ch/CN=bob+UID=7'] } } })).toThrow(
      /user bob: .*multi-valued RDN/,
    )
    expect(() =>
      parseConfig({ users: { a: { dns: ['/DC=ch/CN=x'] }, b: { dns: ['/DC=ch/CN=x'] } } }),
    ).toThrow(/user b: the DN \/DC=ch\/CN=x is also listed for user a/)
  })
})
