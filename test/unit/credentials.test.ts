import { createPrivateKey, createPublicKey } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import * as asn1js from 'asn1js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { derElements } from '../../src/credentials/der.js'
import {
  assembleProxyFile,
  type ChainVerification,
  checkDelegatedChain,
  endEntityIndex,
  loadTrustStore,
  makeProxyCsr,
  parseCert,
  parseCertBundle,
  parseCsr,
  proxyTimeLeftMs,
  readProxyFile,
  signProxyFromCsr,
  splitPem,
  type TrustStore,
  verifyChain,
  verifyPeer,
} from '../../src/credentials/index.js'
import { nameBytesOf } from '../../src/credentials/x509.js'
import { AsoError } from '../../src/domain/errors.js'
import { makeTestPki, openssl, type ProxyCert, type TestPki, type UserCert } from '../support/pki.js'

const HOUR = 3600_000

let dir: string
let pki: TestPki
let store: TrustStore
let alice: UserCert
let aliceProxy: ProxyCert

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aso-credentials-'))
  pki = await makeTestPki(dir)
  store = await loadTrustStore(pki.caDir)
  alice = await pki.userCert('alice')
  aliceProxy = await pki.proxy(alice)
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function refusal(result: ChainVerification): string {
  if (result.ok) throw new Error(`expected a refusal, got identity ${result.identityDn}`)
  return result.reason
}

describe('pem', () => {
  it('splits a grid proxy file into proxy cert, key and chain, in file order', async () => {
    const { certificates, privateKeys } = splitPem(aliceProxy.certPem + aliceProxy.keyPem + alice.certPem)
    expect(certificates).toHaveLength(2)
    expect(privateKeys).toHaveLength(1)
    expect(parseCert(certificates[0]!).subject).toBe(aliceProxy.dn)
    expect(parseCert(certificates[1]!).subject).toBe(alice.dn)
  })

  it('writes DNs in the grid slash form, like openssl -nameopt compat', async () => {
    const proxy = parseCert(aliceProxy.certPem)
    expect(proxy.subject).toMatch(/^\/DC=ch\/DC=cern\/OU=Users\/CN=alice\/CN=\d+$/)
    expect(proxy.issuer).toBe('/DC=ch/DC=cern/OU=Users/CN=alice')
    const fromOpenssl = await openssl([
      'x509',
      '-in',
      aliceProxy.certPath,
      '-noout',
      '-subject',
      '-nameopt',
      'compat',
    ])
    expect(fromOpenssl.trim()).toBe(`subject=${proxy.subject}`)
    expect(parseCert(pki.ca.certPem).subject).toBe('/DC=ch/DC=cern/CN=ASO Test CA')
  })

  it('reads validity, CA flag, key usage and proxyCertInfo', () => {
    const proxy = parseCert(aliceProxy.certPem)
    expect(proxy.notAfter.getTime() - Date.now()).toBeGreaterThan(11.9 * HOUR)
    expect(proxy.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(12 * HOUR)
    expect(proxy.notBefore.getTime()).toBeLessThan(Date.now())
    expect(proxy.proxyCertInfo).toEqual({ oid: '1.3.6.1.5.5.7.1.14', policyLanguage: '1.3.6.1.5.5.7.21.1' })
    expect(proxy.isCa).toBe(false)
    expect(proxy.keyUsage).toEqual(['digitalSignature', 'keyEncipherment'])
    const ca = parseCert(pki.ca.certPem)
    expect(ca.isCa).toBe(true)
    expect(ca.keyUsage).toEqual(['keyCertSign', 'cRLSign'])
    expect(endEntityIndex(parseCertBundle(aliceProxy.chainPem))).toBe(1)
  })
})

describe('verifyChain', () => {
  it('accepts a user certificate: identity = its DN', async () => {
    const result = await verifyChain(alice.certPem, pki.caDir)
    expect(result).toMatchObject({ ok: true, identityDn: alice.dn, endEntityDn: alice.dn, isProxy: false })
  })

  it('accepts a proxy chain: identity = the user DN, not the proxy DN', async () => {
    const result = await verifyChain(aliceProxy.chainPem, store)
    expect(result).toMatchObject({
      ok: true,
      identityDn: alice.dn,
      leafDn: aliceProxy.dn,
      isProxy: true,
      proxyDepth: 1,
      notAfter: parseCert(aliceProxy.certPem).notAfter,
    })
  })

  it('refuses a legacy Globus proxy (CN=proxy, no proxyCertInfo): Node cannot link it over TLS', async () => {
    const legacy = await pki.proxy(alice, { legacy: true })
    expect(parseCert(legacy.certPem).proxyCertInfo).toBeUndefined()
    expect(refusal(await verifyChain(legacy.chainPem, store))).toMatch(
      /CN=proxy is a legacy \(pre-RFC 3820, Globus GT2\) proxy, which ASO does not accept/,
    )
  })

  it('refuses a chain from an unknown CA', async () => {
    const foreign = await pki.foreignCa()
    const reason = refusal(await verifyChain(foreign.user.certPem, store))
    expect(reason).toContain('issued by an unknown CA: /DC=org/DC=example/CN=Foreign Test CA')
    // presenting the foreign CA along with it changes nothing: trust comes from the CA directory only
    expect(refusal(await verifyChain(foreign.user.certPem + foreign.certPem, store))).toContain('unknown CA')
  })

  it('refuses a certificate from an impostor CA that has the trusted CA name', async () => {
    const impostor = await pki.foreignCa({ sameDn: true })
    const reason = refusal(await verifyChain(impostor.user.certPem, store))
    expect(reason).toContain('does not verify against the key of its issuer /DC=ch/DC=cern/CN=ASO Test CA')
  })

  it('refuses an expired user certificate, saying when it expired', async () => {
    const old = await pki.userCert('olduser', { expired: true })
    const notAfter = parseCert(old.certPem).notAfter
    expect(notAfter.getTime()).toBeLessThan(Date.now())
    const reason = refusal(await verifyChain(old.certPem, store))
    expect(reason).toBe(
      `certificate ${old.dn} expired on ${notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z')}`,
    )
  })

  it('refuses an expired proxy, saying when it expired', async () => {
    const expired = await pki.proxy(alice, { expired: true })
    const reason = refusal(await verifyChain(expired.chainPem, store))
    expect(reason).toMatch(
      /^proxy \/DC=ch\/DC=cern\/OU=Users\/CN=alice\/CN=\d+ expired on \d{4}-\d\d-\d\dT[\d:]{8}Z$/,
    )
  })

  it('refuses a chain that is not yet valid', async () => {
    const reason = refusal(await verifyChain(aliceProxy.chainPem, store, new Date(Date.now() - 2 * HOUR)))
    expect(reason).toContain('is not yet valid (valid from ')
  })

  it('refuses a proxy whose subject is not its issuer plus one CN', async () => {
    // signed by alice, but named as bob's proxy
    const forged = await pki.proxy({ ...alice, dn: '/DC=ch/DC=cern/OU=Users/CN=bob' })
    const reason = refusal(await verifyChain(forged.certPem + alice.certPem, store))
    expect(reason).toContain('its subject must be its issuer /DC=ch/DC=cern/OU=Users/CN=alice plus one CN')
  })

  it('refuses a proxy signed by another key than its issuer certificate', async () => {
    const otherAlice = await pki.userCert('alice') // same DN, different key
    const forged = await pki.proxy(otherAlice)
    const reason = refusal(await verifyChain(forged.certPem + alice.certPem, store))
    expect(reason).toContain('does not verify against the key of its issuer /DC=ch/DC=cern/OU=Users/CN=alice')
  })

  it('refuses a proxy presented without its issuer, and a CA certificate as a client', async () => {
    expect(refusal(await verifyChain(aliceProxy.certPem, store))).toContain('is not followed by its issuer')
    expect(refusal(await verifyChain(pki.ca.certPem, store))).toContain('is a CA certificate')
    expect(refusal(await verifyChain('', store))).toBe('no certificate presented')
  })

  it('verifies a TLS peer from getPeerCertificate(true)', async () => {
    const seen: ChainVerification[] = []
    const server = tls.createServer(
      {
        cert: pki.host.certPem,
        key: pki.host.keyPem,
        ca: pki.ca.certPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (socket) => {
        verifyPeer(socket.getPeerCertificate(true), store).then((r) => {
          seen.push(r)
          socket.end('bye')
        }, socket.destroy.bind(socket))
      },
    )
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const talk = (options: tls.ConnectionOptions) =>
      new Promise<void>((resolve, reject) => {
        const socket = tls.connect({
          port,
          host: '127.0.0.1',
          servername: 'localhost',
          ca: pki.ca.certPem,
          ...options,
        })
        socket.on('error', reject)
        socket.on('end', resolve)
        socket.resume()
      })
    try {
      await talk({ cert: aliceProxy.chainPem, key: aliceProxy.keyPem })
      await talk({})
    } finally {
      server.close()
    }
    expect(seen[0]).toMatchObject({ ok: true, identityDn: alice.dn, leafDn: aliceProxy.dn, isProxy: true })
    expect(seen[1]).toEqual({ ok: false, reason: 'no client certificate presented' })
  })
})

describe('delegation', () => {
  it('makes a SHA-256 CSR with subject O=Dummy and an RSA 2048 key that openssl accepts', async () => {
    const { csrPem, keyPem } = makeProxyCsr()
    const csr = parseCsr(csrPem)
    expect(csr.subject).toBe('/O=Dummy')
    expect(csr.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(keyPem).toContain('BEGIN RSA PRIVATE KEY')
    const csrPath = join(dir, 'dummy.csr')
    await writeFile(csrPath, csrPem)
    const text = await openssl(['req', '-in', csrPath, '-noout', '-verify', '-text'])
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption')
  })

  it('signs the CSR as an RFC 3820 proxy that FTS and openssl accept', async () => {
    const { csrPem, keyPem } = makeProxyCsr()
    const now = new Date()
    const signer = { certPem: aliceProxy.certPem, keyPem: aliceProxy.keyPem, chainPem: [alice.certPem] }
    const body = signProxyFromCsr(csrPem, signer, 96 * HOUR, now)

    const certs = parseCertBundle(body)
    expect(certs.map((c) => c.subject)).toEqual([expect.stringMatching(/\/CN=\d+$/), aliceProxy.dn, alice.dn])
    expect(splitPem(body).privateKeys).toHaveLength(0)
    const delegated = certs[0]!
    expect(delegated.version).toBe(3)
    expect(delegated.issuer).toBe(aliceProxy.dn)
    expect(delegated.subject).toBe(`${aliceProxy.dn}/CN=${BigInt(`0x${delegated.serialHex}`)}`)
    expect(delegated.isCa).toBe(false)
    expect(delegated.keyUsage).toEqual(['digitalSignature', 'keyEncipherment'])
    expect(delegated.proxyCertInfo?.policyLanguage).toBe('1.3.6.1.5.5.7.21.1')
    const critical = delegated.extensions.filter((e) => e.critical).map((e) => e.oid)
    expect(critical.sort()).toEqual(['1.3.6.1.5.5.7.1.14', '2.5.29.15', '2.5.29.19'])
    expect(delegated.authorityKeyId).toMatch(/^[0-9a-f]{40}$/)
    // the public key is the CSR's; lifetime is cut to the signer's
    const csrKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' })
    expect(delegated.publicKey.export({ type: 'spki', format: 'der' }).equals(csrKey)).toBe(true)
    const signerNotAfter = parseCert(aliceProxy.certPem).notAfter
    expect(delegated.notAfter.getTime()).toBeLessThanOrEqual(signerNotAfter.getTime())
    expect(delegated.notBefore.getTime()).toBeLessThanOrEqual(now.getTime())

    const check = checkDelegatedChain(body, keyPem)
    expect(check).toEqual({
      ok: true,
      terminationTime: delegated.notAfter,
      dn: alice.dn,
      proxyDn: delegated.subject,
    })

    const verified = await verifyChain(body, store)
    expect(verified).toMatchObject({ ok: true, identityDn: alice.dn, proxyDepth: 2 })

    // openssl's own RFC 3820 path validation
    const newProxy = join(dir, 'delegated.pem')
    const untrusted = join(dir, 'delegated-untrusted.pem')
    await writeFile(newProxy, delegated.pem)
    await writeFile(untrusted, aliceProxy.certPem + alice.certPem)
    const out = await openssl([
      'verify',
      '-allow_proxy_certs',
      '-CAfile',
      pki.ca.certPath,
      '-untrusted',
      untrusted,
      newProxy,
    ])
    expect(out.trim()).toBe(`${newProxy}: OK`)
    const ext = await openssl(['x509', '-in', newProxy, '-noout', '-ext', 'proxyCertInfo'])
    expect(ext).toContain('Policy Language: Inherit all')

    // what the server then stores: certificate, its key, the chain; a valid proxy file
    const stored = join(dir, 'delegated.x509up')
    await writeFile(stored, assembleProxyFile(body, keyPem), { mode: 0o600 })
    const info = await readProxyFile(stored)
    expect(info.identityDn).toBe(alice.dn)
    expect(info.proxyDn).toBe(delegated.subject)
  })

  it("copies the signer's subject Name bytes as the proxy's issuer, and its RDNs into the proxy's subject", async () => {
    // BMPString and UTF8String values: a re-encoded copy could differ from the signer's own bytes
    const config = join(dir, 'bmp.cnf')
    await writeFile(config, '[req]\ndistinguished_name = dn\nstring_mask = default\n[dn]\n')
    const certPath = join(dir, 'bmp-signer.pem')
    const keyPath = join(dir, 'bmp-signer.key')
    const subject = '/DC=org/O=Ünïcödé 日本/CN=signer é'
    await openssl([
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-utf8',
      '-config',
      config,
      '-subj',
      subject,
      '-keyout',
      keyPath,
      '-out',
      certPath,
    ])
    const signer = { certPem: await readFile(certPath, 'utf8'), keyPem: await readFile(keyPath, 'utf8') }
    const body = signProxyFromCsr(makeProxyCsr({ bits: 1024 }).csrPem, signer, HOUR)
    const [proxy, signerCert] = parseCertBundle(body)
    expect(signerCert!.subject).toBe(subject)
    expect(proxy!.issuer).toBe(subject)
    expect(proxy!.proxyShaped).toBe(true)
    const proxyNames = nameBytesOf(proxy!.der)
    const signerSubject = nameBytesOf(signerCert!.der).subject
    expect(proxyNames.issuer.equals(signerSubject)).toBe(true)
    expect(derElements(proxyNames.subject).slice(0, -1)).toEqual(derElements(signerSubject))
  })

  it('gives the delegated proxy the asked lifetime when the signer lives longer', () => {
    const { csrPem } = makeProxyCsr({ bits: 1024 })
    const now = new Date()
    const body = signProxyFromCsr(
      csrPem,
      { certPem: aliceProxy.certPem, keyPem: aliceProxy.keyPem },
      HOUR,
      now,
    )
    const notAfter = parseCert(body).notAfter.getTime()
    expect(notAfter).toBeLessThanOrEqual(now.getTime() + HOUR)
    expect(notAfter).toBeGreaterThan(now.getTime() + HOUR - 1000)
  })

  it('refuses to sign with an expired signer or a key that is not the signer certificate key', async () => {
    const { csrPem } = makeProxyCsr({ bits: 1024 })
    const expired = await pki.proxy(alice, { expired: true })
    const signWith = (certPem: string, keyPem: string) => () =>
      signProxyFromCsr(csrPem, { certPem, keyPem }, HOUR)
    expect(signWith(expired.certPem, expired.keyPem)).toThrow(/expired on .*run voms-proxy-init/)
    expect(signWith(aliceProxy.certPem, alice.keyPem)).toThrow(AsoError)
    expect(() =>
      signProxyFromCsr('nonsense', { certPem: alice.certPem, keyPem: alice.keyPem }, HOUR),
    ).toThrow(/not a PEM certificate request/)
  })

  it('refuses what FTS refuses, with FTS reasons', async () => {
    const { csrPem, keyPem } = makeProxyCsr({ bits: 1024 })
    const signer = { certPem: aliceProxy.certPem, keyPem: aliceProxy.keyPem, chainPem: [alice.certPem] }
    const body = signProxyFromCsr(csrPem, signer, HOUR)
    const [first] = splitPem(body).certificates
    const bob = await pki.userCert('bob')

    expect(checkDelegatedChain(first!, keyPem)).toEqual({
      ok: false,
      reason: 'Could not process the proxy: Malformed proxy',
    })
    expect(checkDelegatedChain(body, makeProxyCsr({ bits: 1024 }).keyPem)).toEqual({
      ok: false,
      reason: 'Could not process the proxy: The proxy does not match the stored associated private key',
    })
    expect(checkDelegatedChain(first! + bob.certPem, keyPem)).toEqual({
      ok: false,
      reason:
        'Could not process the proxy: Failed to verify the proxy, maybe signed with the wrong private key?',
    })
    // a "proxy" whose subject is not its issuer + CN: bob's certificate checked as if it were delegated
    const notProxy = checkDelegatedChain(bob.certPem + pki.ca.certPem, bob.keyPem)
    expect(notProxy.ok).toBe(false)
    expect(!notProxy.ok && notProxy.reason).toContain('The subject and the issuer of the proxy do not match')
  })
})

/** A minimal VOMS AC sequence extension (unsigned: only its structure matters to vomsFqansOf). */
function fakeVomsExtensionHex(fqans: string[]): string {
  const seq = (value: asn1js.BaseBlock[]) => new asn1js.Sequence({ value })
  const oid = (value: string) => new asn1js.ObjectIdentifier({ value })
  const int = (value: number) => new asn1js.Integer({ value })
  const octets = (s: string) => new asn1js.OctetString({ valueHex: Buffer.from(s, 'latin1') })
  const attribute = seq([
    oid('1.3.6.1.4.1.8005.100.100.4'),
    new asn1js.Set({
      value: [
        seq([
          new asn1js.Constructed({
            idBlock: { tagClass: 3, tagNumber: 0 },
            value: [
              new asn1js.Primitive({
                idBlock: { tagClass: 3, tagNumber: 6 },
                valueHex: Buffer.from('cms://localhost:15000'),
              }),
            ],
          }),
          seq(fqans.map(octets)),
        ]),
      ],
    }),
  ])
  const info = seq([
    int(1),
    seq([]),
    seq([]),
    seq([oid('1.2.840.113549.1.1.11')]),
    int(7),
    seq([]),
    seq([attribute]),
  ])
  const ac = seq([
    info,
    seq([oid('1.2.840.113549.1.1.11')]),
    new asn1js.BitString({ valueHex: new Uint8Array(0) }),
  ])
  return Buffer.from(seq([seq([ac])]).toBER()).toString('hex')
}

describe('readProxyFile', () => {
  it('gives identity, proxy DN, expiry and time left', async () => {
    const info = await readProxyFile(aliceProxy.path)
    expect(info).toMatchObject({ identityDn: alice.dn, proxyDn: aliceProxy.dn, isProxy: true, vomsFqans: [] })
    expect(info.chain.map((c) => c.subject)).toEqual([aliceProxy.dn, alice.dn])
    expect(info.key).toContain('PRIVATE KEY')
    expect(info.notAfter).toEqual(parseCert(aliceProxy.certPem).notAfter)
    const left = proxyTimeLeftMs(info)
    expect(left).toBeGreaterThan(11.9 * HOUR)
    expect(left).toBeLessThanOrEqual(12 * HOUR)
    expect(proxyTimeLeftMs(info, new Date(info.notAfter.getTime() + 1))).toBe(0)
  })

  it('reads the FQANs of a VOMS proxy', async () => {
    const fqans = ['/cms/Role=NULL/Capability=NULL', '/cms/Role=production/Capability=NULL']
    const voms = await pki.proxy(alice, {
      extensions: [`1.3.6.1.4.1.8005.100.100.5=DER:${fakeVomsExtensionHex(fqans)}`],
    })
    expect((await readProxyFile(voms.path)).vomsFqans).toEqual(fqans)
    expect(await verifyChain(voms.chainPem, store)).toMatchObject({ ok: true, identityDn: alice.dn })
  })

  it('says what to do when the file is missing', async () => {
    const path = join(dir, 'no-such-x509up')
    const error = await readProxyFile(path).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AsoError)
    expect((error as AsoError).code).toBe('unauthenticated')
    expect((error as AsoError).message).toBe(
      `X.509 proxy file ${path} does not exist: run voms-proxy-init to make a new proxy ` +
        '(or point X509_USER_PROXY to a valid one)',
    )
  })

  it('says when an expired proxy expired', async () => {
    const expired = await pki.proxy(alice, { expired: true })
    const notAfter = parseCert(expired.certPem)
      .notAfter.toISOString()
      .replace(/\.\d{3}Z$/, 'Z')
    await expect(readProxyFile(expired.path)).rejects.toThrow(
      `X.509 proxy ${expired.path} of ${alice.dn} expired on ${notAfter}: run voms-proxy-init`,
    )
    expect((await readProxyFile(expired.path, { allowExpired: true })).identityDn).toBe(alice.dn)
  })

  it('refuses files without a key, without certificates, or with the wrong key', async () => {
    const noKey = join(dir, 'x509up-nokey')
    await writeFile(noKey, aliceProxy.chainPem)
    await expect(readProxyFile(noKey)).rejects.toThrow(`${noKey} holds no private key`)
    const noCert = join(dir, 'x509up-nocert')
    await writeFile(noCert, 'hello\n')
    await expect(readProxyFile(noCert)).rejects.toThrow(`${noCert} holds no certificate`)
    const wrongKey = join(dir, 'x509up-wrongkey')
    await writeFile(wrongKey, aliceProxy.certPem + alice.keyPem + alice.certPem)
    await expect(readProxyFile(wrongKey)).rejects.toThrow('does not belong to its first certificate')
  })
})
