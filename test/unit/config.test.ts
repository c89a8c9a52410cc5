import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig, parseConfig } from '../../src/config/load.js'
import { SiteCatalog } from '../../src/sites/catalog.js'

describe('configuration', () => {
  it('applies the embedded defaults', () => {
    const c = parseConfig({})
    expect(c.database).toBe('sqlite:./aso-data/aso.db')
    expect(c.retry.maxAttempts).toBe(3)
    expect(c.retry.backoff.initial).toBe(60_000)
    expect(c.cleanup.tempRetention).toBe(14 * 86_400_000)
  })

  it('names the path of every error in the file', () => {
    expect(() => parseConfig({ retry: { maxAttempts: 0 } }, 'x.yaml')).toThrow(/x\.yaml: retry\.maxAttempts/)
    expect(() => parseConfig({ sites: { A: { protocols: [{ scheme: 'root' }] } } })).toThrow(
      /sites\.A\.protocols\.0: needs a prefix or at least one rule/,
    )
    expect(() => parseConfig({ cleanup: { tempRetention: 'forever' } })).toThrow(
      /cleanup\.tempRetention.*not a duration/,
    )
    expect(() => parseConfig({ retyr: {} })).toThrow(/unknown key\(s\) retyr/)
    expect(() => parseConfig({ links: { 'A-B': {} } })).toThrow(/SOURCE->DESTINATION/)
  })

  it("refuses a site's area pattern under which two users could own one path", () => {
    const site = (tempArea: string) => ({
      sites: { A: { protocols: [{ scheme: 'file', prefix: '/tmp/a' }], tempArea } },
    })
    expect(() => parseConfig(site('/store/temp/user/{user}*/'))).toThrow(
      /sites\.A\.tempArea: .*a \* right beside a placeholder.*\{user\}\.\*/,
    )
    expect(parseConfig(site('/store/temp/user/{user}.*/')).sites.A!.tempArea).toBe(
      '/store/temp/user/{user}.*/',
    )
  })

  it('reads a file, resolves relative paths against it, and lets ASO_* variables override scalars', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'aso-cfg-'))
    await writeFile(
      path.join(dir, 'aso.yaml'),
      'database: sqlite:db/aso.db\nsites:\n  A:\n    protocols:\n      - { scheme: file, prefix: data/A }\nretry: { maxAttempts: 2 }\n',
    )
    const { config, file } = loadConfig({
      path: path.join(dir, 'aso.yaml'),
      env: { ASO_RETRY__MAX_ATTEMPTS: '5', ASO_AGENT__SHUTDOWN_GRACE: '3s' },
    })
    expect(file).toBe(path.join(dir, 'aso.yaml'))
    expect(config.database).toBe(`sqlite:${path.join(dir, 'db/aso.db')}`)
    expect(config.sites.A!.protocols[0]!.prefix).toBe(path.join(dir, 'data/A'))
    expect(config.retry.maxAttempts).toBe(5)
    expect(config.agent.shutdownGrace).toBe(3000)
    await writeFile(path.join(dir, 'bad.yaml'), 'sites: [unclosed\n')
    expect(() => loadConfig({ path: path.join(dir, 'bad.yaml'), env: {} })).toThrow(
      /bad\.yaml:.*not valid YAML/,
    )
  })
})

describe('site catalog', () => {
  const catalog = new SiteCatalog(
    parseConfig({
      sites: {
        T2_IT_Bari: {
          protocols: [
            { scheme: 'root', prefix: 'root://xrootd.ba.infn.it:1094/' },
            {
              scheme: 'davs',
              rules: [
                { match: '^/store/temp/(.*)$', pfn: 'davs://webdav.ba.infn.it:8443/cms/store/temp/$1' },
                { match: '^/store/user/(.*)$', pfn: 'davs://webdav.ba.infn.it:8443/cms/users/$1' },
              ],
            },
          ],
        },
        T2_CH_CERN: { protocols: [{ scheme: 'file', prefix: '/data/cern' }] },
      },
      links: {
        default: { maxActive: 20 },
        'T2_IT_Bari->T2_CH_CERN': { maxActive: 50 },
        '*->T2_CH_CERN': { maxFilesPerJob: 10 },
      },
    }),
  )

  it('maps LFNs to PFNs by prefix and by ordered rules, in the site order', () => {
    expect(catalog.endpoints('T2_IT_Bari', '/store/user/alice/f.root')).toEqual([
      { scheme: 'root', url: 'root://xrootd.ba.infn.it:1094//store/user/alice/f.root' },
      { scheme: 'davs', url: 'davs://webdav.ba.infn.it:8443/cms/users/alice/f.root' },
    ])
    expect(catalog.endpoints('T2_CH_CERN', '/store/user/a/f')).toEqual([
      { scheme: 'file', url: 'file:///data/cern/store/user/a/f' },
    ])
  })

  it('names the site and the LFN when it cannot map one', () => {
    expect(() => catalog.endpoints('T9_XX_X', '/store/user/a/f')).toThrow(
      /unknown site "T9_XX_X" \(for \/store\/user\/a\/f\)/,
    )
    expect(catalog.pfnProblem('T2_IT_Bari', '/store/group/x/f')).toBeNull()
  })

  it('merges link settings: the link, wildcards, then the default', () => {
    expect(catalog.link('T2_IT_Bari', 'T2_CH_CERN')).toEqual({
      maxActive: 50,
      maxFilesPerJob: 10,
      engine: 'local',
      adaptive: false,
      startActive: 13,
      minActive: 1,
    })
    expect(catalog.link('T2_CH_CERN', 'T2_IT_Bari')).toEqual({
      maxActive: 20,
      maxFilesPerJob: 100,
      engine: 'local',
      adaptive: false,
      startActive: 5,
      minActive: 1,
    })
  })
})
