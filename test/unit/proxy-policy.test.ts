/**
 * RFC 3820 proxy policy (issue 16 item 8): an independent proxy is not its issuer; a proxy delegated from a
 * limited proxy is limited; a proxy whose path length is used up cannot delegate; legacy (pre-RFC) proxies
 * are refused with one message wherever they are verified. Proxies made by `openssl ca` from a test CA.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type ChainVerification,
  loadTrustStore,
  makeProxyCsr,
  parseCertBundle,
  signProxyFromCsr,
  type TrustStore,
  verifyChain,
} from '../../src/credentials/index.js'
import { AsoError } from '../../src/domain/errors.js'
import { makeTestPki, type ProxyCert, type TestPki, type UserCert } from '../support/pki.js'

const HOUR = 3600_000
const LIMITED = '1.3.6.1.4.1.3536.1.1.1.9'
const INHERIT_ALL = '1.3.6.1.5.5.7.21.1'

let dir: string
let pki: TestPki
let store: TrustStore
let alice: UserCert

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aso-proxy-policy-'))
  pki = await makeTestPki(dir)
  store = await loadTrustStore(pki.caDir)
  alice = await pki.userCert('alice')
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

function refusal(result: ChainVerification): string {
  if (result.ok) throw new Error(`expected a refusal, got identity ${result.identityDn}`)
  return result.reason
}

/** Delegates from `proxy` as the FTS delegation does; the new chain, leaf first. */
function delegateFrom(proxy: ProxyCert): string {
  const { csrPem } = makeProxyCsr({ bits: 1024 })
  const [, ...below] = parseCertBundle(proxy.chainPem)
  return signProxyFromCsr(
    csrPem,
    { certPem: proxy.certPem, keyPem: proxy.keyPem, chainPem: below.map((c) => c.pem) },
    HOUR,
  )
}

function thrown(f: () => unknown): AsoError {
  try {
    f()
  } catch (e) {
    if (e instanceof AsoError) return e
    throw e
  }
  throw new Error('expected an AsoError')
}

describe('verifying proxies', () => {
  it('refuses an independent proxy as its issuer, saying why', async () => {
    const independent = await pki.proxy(alice, { proxyCertInfo: 'critical,language:id-ppl-independent' })
    expect(refusal(await verifyChain(independent.chainPem, store))).toBe(
      `proxy ${independent.dn} is an independent proxy (id-ppl-independent): it does not carry the identity of ${alice.dn}, so ASO cannot act for that user with it; make an ordinary (inheritAll) proxy`,
    )
  })

  it('refuses a proxy policy language it does not understand, and accepts a limited proxy', async () => {
    const odd = await pki.proxy(alice, { proxyCertInfo: 'critical,language:1.2.3.4.5' })
    expect(refusal(await verifyChain(odd.chainPem, store))).toMatch(
      /has the proxy policy language 1\.2\.3\.4\.5, which ASO does not understand/,
    )
    const limited = await pki.proxy(alice, { proxyCertInfo: `critical,language:${LIMITED}` })
    expect(await verifyChain(limited.chainPem, store)).toMatchObject({ ok: true, identityDn: alice.dn })
  })

  it('refuses a legacy (pre-RFC 3820) proxy with a message that says what to make instead', async () => {
    const legacy = await pki.proxy(alice, { legacy: true })
    const reason = refusal(await verifyChain(legacy.chainPem, store))
    expect(reason).toBe(
      `${alice.dn}/CN=proxy is a legacy (pre-RFC 3820, Globus GT2) proxy, which ASO does not accept: make an RFC 3820 proxy (voms-proxy-init -rfc or grid-proxy-init -rfc; current versions make one by default)`,
    )
    // what a TLS server sees of it (Node drops the user certificate): the same answer
    expect(refusal(await verifyChain(legacy.certPem, store))).toBe(reason)
  })
})

describe('delegating from a proxy', () => {
  it('issues a limited proxy from a limited proxy, an inheritAll one otherwise', async () => {
    const limited = await pki.proxy(alice, { proxyCertInfo: `critical,language:${LIMITED}` })
    const fromLimited = delegateFrom(limited)
    expect(parseCertBundle(fromLimited)[0]!.proxyCertInfo?.policyLanguage).toBe(LIMITED)
    expect(await verifyChain(fromLimited, store)).toMatchObject({
      ok: true,
      identityDn: alice.dn,
      proxyDepth: 2,
    })
    // limited anywhere above: still limited two levels down
    const full = await pki.proxy(limited)
    expect(parseCertBundle(delegateFrom(full))[0]!.proxyCertInfo?.policyLanguage).toBe(LIMITED)
    const ordinary = await pki.proxy(alice)
    expect(parseCertBundle(delegateFrom(ordinary))[0]!.proxyCertInfo?.policyLanguage).toBe(INHERIT_ALL)
  })

  it('refuses to delegate from a proxy whose path length allows no further proxy, saying what to do', async () => {
    const pathLen0 = await pki.proxy(alice, {
      proxyCertInfo: 'critical,language:id-ppl-inheritAll,pathlen:0',
    })
    const e = thrown(() => delegateFrom(pathLen0))
    expect(e.code).toBe('unauthenticated')
    expect(e.message).toBe(
      `cannot delegate: the proxy ${pathLen0.dn} allows 0 further proxies (pathlen), so a proxy signed from it would be refused; make a proxy without a path length limit (voms-proxy-init without -path-length) and delegate from that`,
    )
    // pathlen 1 allows one delegation, whose result the verifier accepts, and no second one
    const pathLen1 = await pki.proxy(alice, {
      proxyCertInfo: 'critical,language:id-ppl-inheritAll,pathlen:1',
    })
    const once = delegateFrom(pathLen1)
    expect(await verifyChain(once, store)).toMatchObject({ ok: true, proxyDepth: 2 })
    const under = await pki.proxy(pathLen1)
    expect(thrown(() => delegateFrom(under)).message).toMatch(
      new RegExp(`the proxy ${pathLen1.dn} allows 1 further proxy \\(pathlen\\)`),
    )
  })

  it('refuses to delegate from an independent proxy', async () => {
    const independent = await pki.proxy(alice, { proxyCertInfo: 'critical,language:id-ppl-independent' })
    expect(thrown(() => delegateFrom(independent)).message).toMatch(
      /cannot delegate: .* is an independent proxy, which does not carry the user's identity/,
    )
  })
})
