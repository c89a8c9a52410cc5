/** The `fts3:` section of aso.yaml, and which FTS3 server serves a link (src/engines/fts3/servers.ts). */
import { describe, expect, it } from 'vitest'
import { buildEngines } from '../../src/cli/engines.js'
import { parseConfig, resolvePaths } from '../../src/config/load.js'
import { linkMatches, ServerPool } from '../../src/engines/fts3/servers.js'

describe('fts3 configuration', () => {
  it('the section-9 shape with its defaults; paths relative to aso.yaml', () => {
    const config = resolvePaths(
      parseConfig({
        engine: 'fts3',
        fts3: {
          servers: [{ url: 'https://fts3-cms.cern.ch:8446', links: ['*->*'] }],
          proxyPath: 'proxies/{user}.pem',
          stomp: { url: 'stomp://127.0.0.1:61613', topic: 'transfer.fts_monitoring_complete' },
        },
      }),
      '/etc/aso',
    )
    expect(config.fts3).toMatchObject({
      servers: [{ url: 'https://fts3-cms.cern.ch:8446', links: ['*->*'], fallback: false }],
      proxyPath: '/etc/aso/proxies/{user}.pem',
      caDir: '/etc/grid-security/certificates',
      maxFilesPerJob: 100,
      maxTimeInQueue: 4 * 3600_000,
      overwrite: false,
      verifyChecksum: 'both',
      delegation: { lifetime: 48 * 3600_000, renewBelow: 24 * 3600_000 },
      minProxyLifetime: 2 * 3600_000,
      timeout: 30_000,
      stomp: { url: 'stomp://127.0.0.1:61613', topic: 'transfer.fts_monitoring_complete' },
    })
    expect(buildEngines(config).engines.get('fts3')).toMatchObject({ name: 'fts3', jobsOutliveAgent: true })
  })

  it('errors name their path; links sent to fts3 without an fts3 section are refused', () => {
    expect(() => parseConfig({ fts3: { servers: [{ url: 'fts3.cern.ch:8446' }] } })).toThrow(
      /fts3\.servers\.0\.url: must be https:\/\/HOST:PORT/,
    )
    expect(() => parseConfig({ fts3: { servers: [] } })).toThrow(
      /fts3\.servers: list at least one FTS3 server/,
    )
    expect(() => buildEngines(parseConfig({ links: { 'A->B': { engine: 'fts3' } } }))).toThrow(
      /no fts3: section/,
    )
  })
})

describe('servers of a link', () => {
  it('patterns: SOURCE->DESTINATION with *, or one site pattern for either end', () => {
    expect(linkMatches('*->*', 'T2_IT_Bari', 'T2_CH_CERN')).toBe(true)
    expect(linkMatches('T2_IT_*->T2_CH_CERN', 'T2_IT_Bari', 'T2_CH_CERN')).toBe(true)
    expect(linkMatches('T2_IT_*->T2_CH_CERN', 'T2_DE_DESY', 'T2_CH_CERN')).toBe(false)
    expect(linkMatches('T1_US_*', 'T2_IT_Bari', 'T1_US_FNAL')).toBe(true)
  })

  it('primaries first, fallbacks after; a failing server is avoided, then tried again, healthy after one answer', () => {
    let now = 0
    const pool = new ServerPool(
      [
        { url: 'https://fb', links: ['*->*'], fallback: true },
        { url: 'https://it', links: ['T2_IT_*->*'] },
        { url: 'https://all', links: ['*->*'] },
      ],
      () => now,
    )
    expect(pool.candidates('T2_IT_Bari', 'B')).toEqual(['https://it', 'https://all', 'https://fb'])
    expect(pool.candidates('T2_DE_X', 'B')).toEqual(['https://all', 'https://fb'])
    pool.failed('https://all', '503')
    expect(pool.available('T2_DE_X', 'B')).toEqual(['https://fb'])
    now += 10_001
    expect(pool.available('T2_DE_X', 'B')).toEqual(['https://all', 'https://fb'])
    pool.failed('https://all', 'timeout')
    now += 10_001
    // twice in a row: avoided twice as long
    expect(pool.available('T2_DE_X', 'B')).toEqual(['https://fb'])
    now += 10_000
    pool.ok('https://all')
    expect(pool.available('T2_DE_X', 'B')).toEqual(['https://all', 'https://fb'])
  })
})
