/**
 * RucioCatalog against a real Rucio server (test/support/rucio.ts): one server for the file, a user account
 * and unique names per test. The service authenticates as root (an admin: it registers replicas in users'
 * scopes) and puts each block's rule on the user's account.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CatalogBlock, CatalogError, type CatalogFile } from '../../src/catalog/catalog.js'
import { RucioCatalog, type RucioCatalogOptions } from '../../src/catalog/rucio/index.js'
import { RUCIO_ROOT, type RucioPeer, rucioPeerMissing, startRucioPeer } from '../support/rucio.js'

const missing = rucioPeerMissing()
const ND = 'T2_XX_NONDET'
const DET = 'T2_XX_DET'
const DAVS = 'T2_XX_DAVS'

let peer: RucioPeer
let users = 0
const catalogs: RucioCatalog[] = []

function catalog(opts: Partial<RucioCatalogOptions> = {}): RucioCatalog {
  const c = new RucioCatalog({ url: peer.url, ...RUCIO_ROOT, timeoutMs: 15_000, ...opts })
  catalogs.push(c)
  return c
}

/** A fresh USER account u<n> with scope user.u<n> and quota at the RSEs of the file. */
async function newUser(quota = true): Promise<string> {
  const { account } = await peer.admin.addUser(`u${++users}`)
  if (quota) for (const rse of [ND, DET, DAVS]) await peer.admin.setLimit(account, rse)
  return account
}

/** n files of user `u` under /store/user/u/<tag>/, written (by default) at the non-deterministic RSE. */
function files(u: string, tag: string, n: number, pfnOf = ndPfn): CatalogFile[] {
  return Array.from({ length: n }, (_, i) => {
    const lfn = `/store/user/${u}/${tag}/out_${i}.root`
    return {
      id: `${tag}-${i}`,
      lfn,
      bytes: 1000 + i,
      adler32: (0x1000 + i).toString(16).padStart(8, '0'),
      pfn: pfnOf(lfn),
    }
  })
}
const ndPfn = (lfn: string) => `root://127.0.0.1:1094/${lfn}`

function block(u: string, tag: string, fs: CatalogFile[], more: Partial<CatalogBlock> = {}): CatalogBlock {
  const container = `/Higgs/${tag}-v1/USER`
  return {
    scope: `user.${u}`,
    container,
    name: `${container}_${tag}`,
    rse: ND,
    ruleAccount: u,
    files: fs,
    ...more,
  }
}

async function refusal(p: Promise<unknown>): Promise<CatalogError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(CatalogError)
  return err as CatalogError
}

describe.skipIf(missing)(
  `RucioCatalog on a real Rucio server${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    beforeAll(async () => {
      peer = await startRucioPeer()
      const root = { scheme: 'root', hostname: '127.0.0.1', prefix: '/' } as const
      await peer.admin.addRse(ND, { deterministic: false, protocols: [{ ...root, port: 1094 }] })
      await peer.admin.addRse(DET, {
        deterministic: true,
        protocols: [{ ...root, port: 1095 }],
        lfn2pfn: 'identity',
      })
      await peer.admin.addRse(DAVS, {
        deterministic: false,
        protocols: [
          { scheme: 'davs', hostname: 'localhost', port: 8443, prefix: '/' },
          { scheme: 'file', hostname: 'localhost', port: 0, prefix: '/' },
        ],
      })
    }, 120_000)

    afterAll(async () => {
      for (const c of catalogs) await c.close()
      await peer?.stop()
    })

    it('publishes a block on a non-deterministic RSE: replicas, block in container, rule OK with locks, closed', async () => {
      const u = await newUser()
      const fs = files(u, 'nd', 3)
      const b = block(u, 'nd', fs)
      const result = await catalog().publishBlock(b)
      expect(result.published.sort()).toEqual(fs.map((f) => f.id))
      expect(result.rejected).toEqual([])
      const replicas = await peer.admin.replicas(
        b.scope,
        fs.map((f) => f.lfn),
      )
      expect(replicas).toHaveLength(3)
      for (const f of fs) {
        const r = replicas.find((x) => x.name === f.lfn)!
        expect([r.bytes, r.adler32, r.states[ND]]).toEqual([f.bytes, f.adler32, 'AVAILABLE'])
      }
      const content = await peer.admin.content(b.scope, b.name)
      expect(content.map((d) => d.name).sort()).toEqual(fs.map((f) => f.lfn).sort())
      expect(await peer.admin.content(b.scope, b.container)).toEqual([
        expect.objectContaining({ name: b.name, type: 'DATASET' }),
      ])
      expect(await peer.admin.did(b.scope, b.name)).toMatchObject({ open: false, length: 3 })
      const rules = await peer.admin.rules(b.scope, b.name)
      expect(rules).toHaveLength(1)
      expect(rules[0]).toMatchObject({
        id: result.ruleId,
        account: u,
        rse_expression: ND,
        copies: 1,
        grouping: 'DATASET',
        state: 'OK',
        locks_ok_cnt: 3,
      })
    })

    it('is idempotent: the same call again registers nothing twice and adopts the rule', async () => {
      const u = await newUser()
      const b = block(u, 'again', files(u, 'again', 2))
      const first = await catalog().publishBlock(b)
      const second = await catalog().publishBlock(b)
      expect(second).toEqual(first)
      expect(await peer.admin.rules(b.scope, b.name)).toHaveLength(1)
      expect(await peer.admin.content(b.scope, b.name)).toHaveLength(2)
      expect(await peer.admin.content(b.scope, b.container)).toHaveLength(1)
    })

    it('a block already closed by an earlier run: its files are published, a file it lacks is rejected', async () => {
      const u = await newUser()
      const fs = files(u, 'closed', 3)
      const b = block(u, 'closed', fs)
      await peer.admin.addReplicas(
        ND,
        fs
          .slice(0, 2)
          .map((f) => ({ scope: b.scope, name: f.lfn, bytes: f.bytes, adler32: f.adler32, pfn: f.pfn })),
      )
      await peer.admin.createDid(b.scope, b.name, 'DATASET')
      await peer.admin.attach(b.scope, b.name, [fs[0]!.lfn, fs[1]!.lfn])
      await peer.admin.closeDid(b.scope, b.name)
      const result = await catalog().publishBlock(b)
      expect(result.published.sort()).toEqual([fs[0]!.id, fs[1]!.id])
      expect(result.rejected).toEqual([
        { id: fs[2]!.id, reason: expect.stringMatching(/is closed in Rucio without/) },
      ])
      expect(result.ruleId).toBeTruthy()
      expect(await peer.admin.content(b.scope, b.container)).toHaveLength(1)
    })

    it("a deterministic RSE: registers without PFN when Rucio computes ASO's PFN, rejects the other with both", async () => {
      const u = await newUser()
      // the identity algorithm: PFN = root://127.0.0.1:1095/ + user/<u>/ + LFN
      const good = files(u, 'det', 1, (lfn) => `root://127.0.0.1:1095/user/${u}${lfn}`)[0]!
      const bad = { ...files(u, 'det2', 1, (lfn) => `root://127.0.0.1:1095/${lfn}`)[0]!, id: 'bad' }
      // no davs protocol at that RSE: Rucio computes no PFN for it
      const davs = { ...files(u, 'det3', 1, (lfn) => `davs://127.0.0.1:1095${lfn}`)[0]!, id: 'davs' }
      const b = block(u, 'det', [good, bad, davs], { rse: DET })
      const result = await catalog().publishBlock(b)
      expect(result.published).toEqual([good.id])
      expect(result.rejected.map((r) => r.id).sort()).toEqual(['bad', 'davs'])
      expect(result.rejected[1]!.reason).toMatch(/RSEProtocolNotSupported.*add-protocol/)
      expect(result.rejected[0]!.reason).toContain(`/user/${u}//store/user/${u}/det2/out_0.root`)
      expect(result.rejected[0]!.reason).toContain(bad.pfn)
      expect((await peer.admin.content(b.scope, b.name)).map((d) => d.name)).toEqual([good.lfn])
      expect(await peer.admin.replicas(b.scope, [bad.lfn])).toEqual([])
    })

    it('a replica Rucio already holds with another adler32 is rejected with both values and never attached', async () => {
      const u = await newUser()
      const fs = files(u, 'conflict', 2)
      await peer.admin.addReplicas(ND, [
        { scope: `user.${u}`, name: fs[1]!.lfn, bytes: fs[1]!.bytes, adler32: 'deadbeef', pfn: fs[1]!.pfn },
      ])
      const b = block(u, 'conflict', fs)
      const result = await catalog().publishBlock(b)
      expect(result.published).toEqual([fs[0]!.id])
      expect(result.rejected[0]!.id).toBe(fs[1]!.id)
      expect(result.rejected[0]!.reason).toMatch(new RegExp(`adler32 deadbeef.*adler32 ${fs[1]!.adler32}`))
      expect((await peer.admin.content(b.scope, b.name)).map((d) => d.name)).toEqual([fs[0]!.lfn])
    })

    it('a batch refused for one PFN is registered file by file: only that file is rejected', async () => {
      const u = await newUser()
      const fs = files(u, 'onebad', 3)
      fs[1] = { ...fs[1]!, pfn: `root://elsewhere.example:1094/${fs[1]!.lfn}` }
      const result = await catalog({ batchSize: 10 }).publishBlock(block(u, 'onebad', fs))
      expect(result.published.sort()).toEqual([fs[0]!.id, fs[2]!.id])
      expect(result.rejected[0]!.reason).toMatch(/RSEFileNameNotSupported.*hostname/)
    })

    it('a group scope on an RSE with davs and file protocols (PFNs compared as Rucio rebuilds them)', async () => {
      const { account, scope } = await peer.admin.addGroup(`g${++users}`)
      await peer.admin.setLimit(account, DAVS)
      const fs = files(account, 'davs', 2, (lfn) => `davs://localhost:8443${lfn}`)
      fs[1] = { ...fs[1]!, pfn: `file:///data${fs[1]!.lfn}` }
      const result = await catalog().publishBlock(
        block(account, 'davs', fs, { scope, rse: DAVS, ruleAccount: account }),
      )
      expect(result.rejected).toEqual([])
      expect(result.published).toHaveLength(2)
    })

    it('a wrong password is permanent and says to check catalog.auth', async () => {
      const u = await newUser()
      const err = await refusal(
        catalog({ password: 'wrong' }).publishBlock(block(u, 'pw', files(u, 'pw', 1))),
      )
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.status).toBe(401)
      expect(err.reason).toMatch(/CannotAuthenticate.*check catalog\.auth/)
    })

    it('an unknown scope is permanent and explained', async () => {
      const u = await newUser()
      const err = await refusal(
        catalog().publishBlock(block(u, 'scope', files(u, 'scope', 1), { scope: 'user.nobody' })),
      )
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.reason).toMatch(/ScopeNotFound.*scope user\.nobody does not exist.*rucio-admin scope add/)
    })

    it('an unknown RSE is permanent and points at catalog.rses', async () => {
      const u = await newUser()
      const err = await refusal(
        catalog().publishBlock(block(u, 'rse', files(u, 'rse', 1), { rse: 'T2_XX_NOWHERE' })),
      )
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.reason).toMatch(/no RSE T2_XX_NOWHERE.*catalog\.rses/)
    })

    it('an unknown rule account is permanent', async () => {
      const u = await newUser()
      const b = block(u, 'acct', files(u, 'acct', 1), { ruleAccount: 'nobody' })
      const err = await refusal(catalog().publishBlock(b))
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.reason).toMatch(/AccountNotFound.*nobody/)
    })

    it('no quota: InsufficientAccountLimit explained; once an admin sets a limit, the same call finishes', async () => {
      const u = await newUser(false)
      const b = block(u, 'quota', files(u, 'quota', 2))
      const err = await refusal(catalog().publishBlock(b))
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.reason).toMatch(
        new RegExp(`InsufficientAccountLimit.*${u} has no quota at ${ND}.*set-limits`),
      )
      await peer.admin.setLimit(u, ND)
      const result = await catalog().publishBlock(b)
      expect(result.published).toHaveLength(2)
      expect(await peer.admin.did(b.scope, b.name)).toMatchObject({ open: false })
    })

    it("a '#' in the block name on the generic schema is permanent and suggests '_'", async () => {
      const u = await newUser()
      const b = block(u, 'hash', files(u, 'hash', 1), { name: '/Higgs/hash-v1/USER#abc' })
      const err = await refusal(catalog().publishBlock(b))
      expect(err.failureClass).toBe('catalog-permanent')
      expect(err.reason).toContain('InvalidObject')
      expect(err.reason).toContain('^[/A-Za-z0-9][/A-Za-z0-9')
      expect(err.reason).toContain('blockName: "{dataset}_{uuid}"')
    })

    it('renews the token before it expires (renew margin beyond its life: every call logs in)', async () => {
      const u = await newUser()
      const before = await peer.admin.tokenCount('root')
      const result = await catalog({ tokenRenewMarginMs: 2 * 3600_000 }).publishBlock(
        block(u, 'renew', files(u, 'renew', 1)),
      )
      expect(result.published).toHaveLength(1)
      expect((await peer.admin.tokenCount('root')) - before).toBeGreaterThan(5)
    })

    it('logs in again once when Rucio refuses its token (revoked)', async () => {
      const u = await newUser()
      const c = catalog()
      await c.publishBlock(block(u, 'tok1', files(u, 'tok1', 1)))
      await peer.admin.revokeTokens()
      const result = await c.publishBlock(block(u, 'tok2', files(u, 'tok2', 1)))
      expect(result.published).toHaveLength(1)
    })

    it('Rucio stopped: transient (connection refused); back again: the call finishes', async () => {
      const u = await newUser()
      const b = block(u, 'down', files(u, 'down', 2))
      const c = catalog()
      await peer.kill()
      try {
        const err = await refusal(c.publishBlock(b))
        expect(err.failureClass).toBe('catalog-transient')
        expect(err.reason).toMatch(/unreachable.*ECONNREFUSED/)
      } finally {
        await peer.restart()
      }
      expect((await c.publishBlock(b)).published).toHaveLength(2)
    })

    it('Rucio hanging: transient after the request timeout; an aborted call is transient too', async () => {
      const u = await newUser()
      const b = block(u, 'hang', files(u, 'hang', 1))
      const c = catalog({ timeoutMs: 1000 })
      await c.publishBlock({ ...b, name: `${b.name}_warm` }) // token and RSE cached
      peer.freeze()
      try {
        const err = await refusal(c.publishBlock(b))
        expect(err.failureClass).toBe('catalog-transient')
        expect(err.reason).toMatch(/did not answer within 1 s/)
        const aborted = await refusal(c.publishBlock(b, AbortSignal.timeout(200)))
        expect(aborted.failureClass).toBe('catalog-transient')
        expect(aborted.reason).toMatch(/interrupted/)
      } finally {
        peer.thaw()
      }
    })
  },
)
