/**
 * The CA directory beyond its certificates (issue 16 item 6): CRLs (`<hash>.r0`) refuse revoked certificates
 * and, once out of date, everything their CA issued; a missing CRL is one warning per CA; a namespace policy
 * (`<hash>.namespaces`, else `<hash>.signing_policy`) limits the subjects a CA may sign. Real CAs, real CRLs
 * made by `openssl ca`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type ChainVerification, verifyChain } from '../../src/credentials/index.js'
import { makeTestPki } from '../support/pki.js'

let dir: string
const CA = '/DC=ch/DC=cern/CN=ASO Test CA'

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aso-ca-directory-'))
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

let n = 0
const freshPki = () => makeTestPki(join(dir, `pki-${++n}`))

function refusal(result: ChainVerification): string {
  if (result.ok) throw new Error(`expected a refusal, got identity ${result.identityDn}`)
  return result.reason
}

describe('CRLs', () => {
  it('refuses a revoked certificate, and its proxies, saying it was revoked', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    const bob = await pki.userCert('bob')
    const bobProxy = await pki.proxy(bob)
    await pki.revoke(bob)
    await pki.writeCrl()
    expect(await verifyChain(alice.certPem, pki.caDir)).toMatchObject({ ok: true })
    expect(refusal(await verifyChain(bob.certPem, pki.caDir))).toMatch(
      new RegExp(`^certificate ${bob.dn} \\(serial [0-9a-f]+\\) was revoked by its CA ${CA} on \\d{4}-`),
    )
    expect(refusal(await verifyChain(bobProxy.chainPem, pki.caDir))).toMatch(/was revoked by its CA/)
  })

  it('refuses a certificate under a revoked intermediate CA, and warns once about the CRL it lacks', async () => {
    const pki = await freshPki()
    const sub = await pki.intermediateCa()
    const chain = sub.user.certPem + sub.certPem
    await pki.writeCrl()
    const warnings: string[] = []
    const warn = (m: string) => warnings.push(m)
    const { loadTrustStore } = await import('../../src/credentials/index.js')
    const before = await loadTrustStore(pki.caDir)
    expect(await verifyChain(chain, before, new Date(), warn)).toMatchObject({
      ok: true,
      identityDn: sub.user.dn,
    })
    expect(await verifyChain(chain, before, new Date(), warn)).toMatchObject({ ok: true })
    expect(warnings).toEqual([
      expect.stringMatching(/^no CRL of CA \/DC=ch\/DC=cern\/CN=ASO Test Sub CA in /),
    ])
    await pki.revoke(sub)
    await pki.writeCrl()
    expect(refusal(await verifyChain(chain, pki.caDir))).toMatch(
      new RegExp(`^certificate ${sub.dn} \\(serial [0-9a-f]+\\) was revoked by its CA ${CA} on `),
    )
  })

  it('refuses every certificate of a CA whose CRL is out of date, saying to run fetch-crl', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    await pki.writeCrl({ expired: true })
    expect(refusal(await verifyChain(alice.certPem, pki.caDir))).toMatch(
      new RegExp(
        `^the CRL of CA ${CA} \\(${pki.caDir}/${pki.caHash}\\.r0\\) is out of date \\(its next update was due \\d{4}-.*\\), so its certificates are refused: run fetch-crl`,
      ),
    )
  })

  it('refuses the certificates of a CA whose CRL file is damaged', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    await writeFile(
      join(pki.caDir, `${pki.caHash}.r0`),
      '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n',
    )
    expect(refusal(await verifyChain(alice.certPem, pki.caDir))).toMatch(/cannot be read .* run fetch-crl/)
  })

  it('accepts a CA without a CRL, with one warning for the CA however many requests', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    const proxy = await pki.proxy(alice)
    const { loadTrustStore } = await import('../../src/credentials/index.js')
    const store = await loadTrustStore(pki.caDir)
    const warnings: string[] = []
    for (const chain of [alice.certPem, proxy.chainPem, alice.certPem]) {
      expect(await verifyChain(chain, store, new Date(), (m) => warnings.push(m))).toMatchObject({ ok: true })
    }
    expect(warnings).toEqual([
      `no CRL of CA ${CA} in ${pki.caDir}: certificates it revoked are still accepted; run fetch-crl to keep the CRLs of the CA directory current`,
    ])
  })
})

describe('namespace policies', () => {
  it('enforces <hash>.namespaces: a subject outside the CA namespace is refused', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    const outsider = await pki.certWithSubject('/DC=org/DC=elsewhere/CN=alice')
    await writeFile(
      join(pki.caDir, `${pki.caHash}.namespaces`),
      ['#NAMESPACES-VERSION: 1.0', `TO Issuer "${CA}" \\`, '  PERMIT Subject "/DC=ch/DC=cern/.*"', ''].join(
        '\n',
      ),
    )
    expect(await verifyChain(alice.certPem, pki.caDir)).toMatchObject({ ok: true })
    expect(refusal(await verifyChain(outsider.certPem, pki.caDir))).toBe(
      `CA ${CA} may not sign /DC=org/DC=elsewhere/CN=alice: its namespace policy (${pki.caDir}/${pki.caHash}.namespaces) does not allow that subject`,
    )
  })

  it('enforces <hash>.signing_policy when there is no namespaces file, and prefers namespaces', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    const outsider = await pki.certWithSubject('/DC=org/DC=elsewhere/CN=alice')
    await writeFile(
      join(pki.caDir, `${pki.caHash}.signing_policy`),
      [
        '# EACL of the test CA',
        `access_id_CA   X509     '${CA}'`,
        'pos_rights     globus   CA:sign',
        `cond_subjects  globus   '"/DC=ch/DC=cern/*"'`,
        '',
      ].join('\n'),
    )
    expect(await verifyChain(alice.certPem, pki.caDir)).toMatchObject({ ok: true })
    expect(refusal(await verifyChain(outsider.certPem, pki.caDir))).toMatch(
      /may not sign \/DC=org\/DC=elsewhere\/CN=alice: its namespace policy \(.*\.signing_policy\)/,
    )
    // a namespaces file replaces the signing_policy
    await writeFile(
      join(pki.caDir, `${pki.caHash}.namespaces`),
      'TO Issuer SELF PERMIT Subject "/DC=org/DC=elsewhere/.*"\n',
    )
    expect(await verifyChain(outsider.certPem, pki.caDir)).toMatchObject({ ok: true })
    expect(refusal(await verifyChain(alice.certPem, pki.caDir))).toMatch(/\.namespaces\) does not allow/)
  })

  it('parses the EACL and Globus line formats', async () => {
    const { parseNamespaces, parseSigningPolicy, policyAllows } = await import(
      '../../src/credentials/ca-policy.js'
    )
    const eacl = parseNamespaces(
      [
        '# comment',
        'TO Issuer "/C=XX/O=Example/CN=Example CA" \\',
        '  PERMIT Subject "/C=XX/O=Example/.*"',
        'to issuer "/C=XX/O=Example/CN=Example CA" deny subject "/C=XX/O=Example/CN=root"',
      ].join('\n'),
    )
    expect(eacl).toHaveLength(2)
    expect(policyAllows(eacl, '/C=XX/O=Example/CN=Example CA', '/C=XX/O=Example/CN=alice')).toBe(true)
    expect(policyAllows(eacl, '/C=XX/O=Example/CN=Example CA', '/C=XX/O=Example/CN=root')).toBe(false)
    expect(policyAllows(eacl, '/C=XX/O=Example/CN=Example CA', '/C=YY/O=Example/CN=alice')).toBe(false)
    expect(policyAllows(eacl, '/C=ZZ/CN=Other CA', '/C=XX/O=Example/CN=alice')).toBeUndefined()
    // a regex in EACL, a glob in signing_policy: "." is any character in one, a dot in the other
    const globus = parseSigningPolicy(
      [
        "access_id_CA X509 '/C=XX/O=Example/CN=Example CA'",
        'pos_rights globus CA:sign',
        `cond_subjects globus '"/C=XX/O=Example/*" "/C=XX/O=Ex.mple/CN=a?"'`,
      ].join('\n'),
    )
    expect(policyAllows(globus, '/C=XX/O=Example/CN=Example CA', '/C=XX/O=Example/CN=x')).toBe(true)
    expect(policyAllows(globus, '/C=XX/O=Example/CN=Example CA', '/C=XX/O=Ex.mple/CN=ab')).toBe(true)
    expect(policyAllows(globus, '/C=XX/O=Example/CN=Example CA', '/C=XX/O=ExAmple/CN=ab')).toBe(false)
    expect(() => parseNamespaces('TO Issuer "/C=XX" PERMIT "x"')).toThrow(/expected SUBJECT/)
    expect(() => parseSigningPolicy("access_id_CA X509 '/C=XX")).toThrow(/unterminated/)
  })

  it('refuses the certificates of a CA whose policy file cannot be read, saying which file', async () => {
    const pki = await freshPki()
    const alice = await pki.userCert('alice')
    await writeFile(join(pki.caDir, `${pki.caHash}.namespaces`), 'TO Issuer "/DC=ch" PERMIT Subject "(["\n')
    expect(refusal(await verifyChain(alice.certPem, pki.caDir))).toMatch(
      /namespace policy of CA .*\.namespaces cannot be read: subject "\(\[" is not a valid pattern.*fix or remove it/,
    )
  })
})
