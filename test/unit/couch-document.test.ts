import { describe, expect, it } from 'vitest'
import { parseConfig } from '../../src/config/load.js'
import type { TransferRecord } from '../../src/domain/transfer.js'
import { seqText } from '../../src/ingest/couchdb/client.js'
import { docTime, intentOf, requestOf, writeBackFields } from '../../src/ingest/couchdb/document.js'

const doc = {
  _id: 'x',
  source_lfn: '/store/temp/user/alice.abc/a.root',
  destination_lfn: '/store/user/alice/a.root',
  source: 'SITE_A',
  destination: 'SITE_B',
  user: 'alice',
  group: '',
  role: '',
  size: 10,
  checksums: { adler32: 'abcd', cksum: '1' },
  type: 'output',
  publish: 1,
  jobid: '7',
  job_retry_count: 2,
  workflow: '261207_1:alice_crab_x',
  inputdataset: '/P/Parent-v1/AOD',
  state: 'new',
}

describe('the original document as a request', () => {
  it('maps the fields, blanks to null, and publishes only with an output dataset', () => {
    const r = requestOf(doc, { outputDatasets: {}, catalog: true })
    expect(r.raw).toMatchObject({
      user: 'alice',
      group: null,
      role: null,
      task: '261207_1:alice_crab_x',
      jobId: '7',
      jobRetry: 2,
      sourceLfn: doc.source_lfn,
      destinationLfn: doc.destination_lfn,
      checksums: { adler32: 'abcd' },
      publish: false,
    })
    expect(r.raw).not.toHaveProperty('dataset')
    expect(r.publicationNote).toMatch(/inputdataset is the parent/)
    const mapped = requestOf(doc, {
      outputDatasets: { '261207_1:alice_crab_x': '/P/Out-v1/USER' },
      catalog: true,
    })
    expect(mapped.raw).toMatchObject({ publish: true, dataset: '/P/Out-v1/USER' })
    expect(mapped.publicationNote).toBeNull()
    const own = requestOf({ ...doc, outputdataset: '/P/Own-v1/USER' }, { outputDatasets: {}, catalog: false })
    expect(own.raw.publish).toBe(false)
    expect(own.publicationNote).toMatch(/no catalog/)
  })

  it('knows which revisions ask for something', () => {
    expect(intentOf('new', ['acquired'])).toBe('inject')
    expect(intentOf('new', ['new'])).toBe('inject')
    expect(intentOf('killed', ['acquired', null])).toBe('kill')
    expect(intentOf('kill', ['new', null])).toBe('kill')
    expect(intentOf('acquired', ['acquired', null])).toBe('none')
    expect(intentOf('done', ['acquired', 'done'])).toBe('none')
    expect(intentOf('done', ['acquired', null])).toBe('restore')
  })

  it('seq is opaque text whatever its JSON type', () => {
    expect(seqText(42)).toBe('42')
    expect(seqText('13-g1AAAA')).toBe('13-g1AAAA')
    expect(seqText([3, 'abc'])).toBe('[3,"abc"]')
  })

  it('accepts the ingest section and refuses http to another host', () => {
    const c = parseConfig({ ingest: { couchdb: { url: 'http://127.0.0.1:5984/' } } }, 'test')
    expect(c.ingest.couchdb).toMatchObject({
      url: 'http://127.0.0.1:5984',
      database: 'asynctransfer',
      feed: 'longpoll',
    })
    expect(() =>
      parseConfig({ ingest: { couchdb: { url: 'http://couch.example.org:5984' } } }, 'test'),
    ).toThrow(/only for a server on this machine/)
  })
})

describe('write-back fields', () => {
  const t = (over: Partial<TransferRecord>): TransferRecord =>
    ({
      state: 'SUBMITTED',
      attempt: 1,
      failureReason: null,
      submittedAt: 1_000,
      finishedAt: null,
      updatedAt: 2_000,
      destinationLfn: '/store/user/alice/a.root',
      publicationState: 'NOT_REQUIRED',
      publicationReason: null,
      ...over,
    }) as TransferRecord
  const none = { rejectedReason: null, publicationNote: null }

  it('writes the states the original daemons wrote, and nothing when the document says so already', () => {
    const acquired = writeBackFields({ state: 'new', retry_count: [] }, { transfer: t({}), ...none }, 5_000)
    expect(acquired?.fields).toMatchObject({ state: 'acquired', start_time: docTime(1_000), last_update: 5 })
    expect(
      writeBackFields(
        { state: 'acquired', retry_count: [], start_time: 'x' },
        { transfer: t({}), ...none },
        5_000,
      ),
    ).toBeNull()
    const retry = writeBackFields(
      { state: 'acquired', retry_count: [], start_time: 'x' },
      { transfer: t({ state: 'RETRY', failureReason: 'boom' }), ...none },
      5_000,
    )
    expect(retry?.fields).toMatchObject({
      state: 'retry',
      retry_count: [docTime(2_000)],
      failure_reason: 'boom',
    })
    const done = writeBackFields(
      { state: 'acquired', retry_count: ['a'], start_time: 'x', lfn: '/store/temp/user/alice.abc/a.root' },
      { transfer: t({ state: 'DONE', attempt: 2, finishedAt: 3_000 }), ...none },
      5_000,
    )
    expect(done?.fields).toMatchObject({
      state: 'done',
      end_time: docTime(3_000),
      lfn: '/store/user/alice/a.root',
    })
    expect(done?.fields).not.toHaveProperty('retry_count')
  })

  it('leaves a kill asked in the document until it is confirmed; a refused document fails with its reason', () => {
    expect(
      writeBackFields(
        { state: 'killed', retry_count: [], start_time: 'x' },
        { transfer: t({ state: 'KILLING' }), ...none },
        1,
      ),
    ).toBeNull()
    const refused = writeBackFields(
      { state: 'new' },
      { transfer: null, rejectedReason: 'refused by ASO: no', publicationNote: null },
      1,
    )
    expect(refused?.fields).toMatchObject({ state: 'failed', failure_reason: 'refused by ASO: no' })
  })

  it('formats times as Python str(datetime) in UTC', () => {
    expect(docTime(Date.UTC(2026, 11, 7, 1, 2, 3, 45))).toBe('2026-12-07 01:02:03.045000')
  })
})
