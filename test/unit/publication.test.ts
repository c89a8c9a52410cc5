/**
 * Publication's pure rules (src/domain/publication.ts), the `catalog:` section of aso.yaml, and what inject
 * refuses: publish: true without a dataset or without a catalog, and datasets whose block names Rucio
 * would refuse for their length.
 */
import { describe, expect, it } from 'vitest'
import { parseConfig, resolvePaths } from '../../src/config/load.js'
import {
  blockName,
  catalogPlace,
  closeReason,
  groupOfLfn,
  initialPublicationState,
} from '../../src/domain/publication.js'
import { type RequestContext, validateRequest } from '../../src/domain/request.js'
import { contextFor, rawRequest } from '../support/requests.js'

const naming = {
  scope: 'user.{user}',
  groupScope: 'group.{group}',
  ruleAccount: '{user}',
  rses: { B: 'T2_B' },
}
const catalog = {
  type: 'rucio',
  url: 'https://rucio.example.org',
  auth: { type: 'userpass', account: 'root', username: 'ddmlab', passwordFile: 'rucio-pass.txt' },
}

/** The message of the first config error, or null. */
function configError(section: unknown): string | null {
  try {
    parseConfig({ catalog: section })
    return null
  } catch (e) {
    return (e as Error).message
  }
}

describe('publication rules', () => {
  it('puts outputs under /store/group/<g>/ in the group scope, the rest in the user scope, at the mapped RSE', () => {
    expect(
      catalogPlace(naming, { user: 'alice', destination: 'B', destinationLfn: '/store/user/alice/x.root' }),
    ).toEqual({ scope: 'user.alice', rse: 'T2_B', ruleAccount: 'alice' })
    expect(
      catalogPlace(naming, { user: 'carol', destination: 'C', destinationLfn: '/store/group/higgs/x.root' }),
    ).toEqual({ scope: 'group.higgs', rse: 'C', ruleAccount: 'carol' })
    expect(groupOfLfn('/store/groupie/x')).toBeNull()
  })

  it('names blocks from the template and publishes only outputs that asked for it', () => {
    expect(blockName('{dataset}#{uuid}', '/A/B/USER', 'alice', 'u1')).toBe('/A/B/USER#u1')
    expect(initialPublicationState({ publish: true, type: 'output' })).toBe('PENDING')
    expect(initialPublicationState({ publish: true, type: 'log' })).toBe('NOT_REQUIRED')
    expect(initialPublicationState({ publish: false, type: 'output' })).toBe('NOT_REQUIRED')
  })

  it('closes a block when full, when nothing of its dataset is on its way, or after blockCloseAfter', () => {
    const opts = { maxFilesPerBlock: 50, blockCloseAfter: 1000 }
    expect(closeReason({ files: 50, openedAt: 0, waiting: 3 }, opts, 1)).toBe('full')
    expect(closeReason({ files: 2, openedAt: 0, waiting: 0 }, opts, 1)).toBe('complete')
    expect(closeReason({ files: 2, openedAt: 0, waiting: 3 }, opts, 999)).toBeNull()
    expect(closeReason({ files: 2, openedAt: 0, waiting: 3 }, opts, 1000)).toBe('timeout')
  })
})

describe('catalog configuration', () => {
  it('the section-9 shape with its defaults; the password file relative to aso.yaml', () => {
    const config = resolvePaths(parseConfig({ catalog }), '/etc/aso')
    expect(config.catalog).toEqual({
      ...catalog,
      auth: { ...catalog.auth, passwordFile: '/etc/aso/rucio-pass.txt' },
      scope: 'user.{user}',
      groupScope: 'group.{group}',
      rule: { account: '{user}' },
      rses: {},
      blockName: '{dataset}#{uuid}',
      maxFilesPerBlock: 100,
      blockCloseAfter: 5 * 3600_000,
      maxAttempts: 5,
      backoff: { initial: 60_000, factor: 2, max: 3600_000 },
      timeout: 60_000,
    })
  })

  it('refuses what would fail later, naming the field and the fix', () => {
    expect(configError({ ...catalog, url: 'http://rucio.example.org' })).toMatch(
      /catalog\.url.*http:\/\/ is allowed only for a server on this machine/,
    )
    expect(configError({ ...catalog, url: 'http://127.0.0.1:8080' })).toBeNull()
    expect(configError({ ...catalog, auth: { ...catalog.auth, password: 'x' } })).toMatch(
      /catalog\.auth.*exactly one of password or passwordFile/,
    )
    expect(configError({ ...catalog, blockName: '{dataset}' })).toMatch(
      /catalog\.blockName.*must contain \{uuid\}/,
    )
    expect(configError({ ...catalog, scope: 'user.{usr}' })).toMatch(
      /catalog\.scope.*unknown placeholder \{usr\}/,
    )
    expect(configError({ ...catalog, type: 'dbs' })).toMatch(/catalog\.type.*"rucio"/)
  })
})

describe('inject rules for publication', () => {
  const withCatalog = { ...contextFor(), catalog: { blockName: '{dataset}#{uuid}' } }
  const errors = (over: Record<string, unknown>, ctx: RequestContext = withCatalog) => {
    const v = validateRequest(rawRequest(1, over), ctx)
    return v.ok ? [] : v.errors
  }

  it('accepts publish: true with a dataset when a catalog is configured', () => {
    expect(errors({ publish: true, dataset: '/Higgs/ana-v1/USER' })).toEqual([])
  })

  it('refuses publish: true without a dataset, saying what to add', () => {
    expect(errors({ publish: true })).toEqual([
      {
        field: 'dataset',
        message: expect.stringMatching(
          /^is required when publish is true: .*"\/Primary\/Processed-v1\/USER"/,
        ),
      },
    ])
  })

  it('refuses publish: true when no catalog is configured, and a log file never asks for publication', () => {
    const none = { ...contextFor(), catalog: null }
    expect(errors({ publish: true, dataset: '/Higgs/ana-v1/USER' }, none)).toEqual([
      {
        field: 'publish',
        message: expect.stringMatching(
          /no catalog \(aso\.yaml has no catalog: section\): send publish: false/,
        ),
      },
    ])
    expect(errors({ publish: true, type: 'log' }, none)).toEqual([])
  })

  it('checks the dataset name at inject, not after the transfer', () => {
    expect(errors({ publish: true, dataset: 'Higgs/ana' })[0]).toMatchObject({ field: 'dataset' })
    const long = `/${'P'.repeat(105)}/${'p'.repeat(105)}/USER`
    expect(errors({ publish: true, dataset: long })).toEqual([
      {
        field: 'dataset',
        message: expect.stringMatching(/is too long: its blocks would be named with 254 characters/),
      },
    ])
  })
})
