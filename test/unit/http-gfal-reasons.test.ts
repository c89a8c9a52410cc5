/**
 * What the HTTP and gfal2 methods read from their peers (COPY bodies, Digest headers, PROPFIND answers, gfal
 * errors) and the reasons they make of it, with the class each reason gets.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { classify } from '../../src/domain/failures.js'
import { gfalError, parseGfalStat } from '../../src/storage/gfal/gfal-protocol.js'
import { connectionFailure, toHttpUrl } from '../../src/storage/http/http-client.js'
import { digestAdler32, httpErrno, parentUrl, parsePropfind } from '../../src/storage/http/http-protocol.js'
import { copyFailureReason, lastLine } from '../../src/storage/http/http-tpc.js'

describe('COPY answers', () => {
  const markers = 'Perf Marker\nTimestamp: 1795624905\nStripe Index: 0\nStripe Bytes Transferred: 0\nEnd\n'

  it('reads the last line after any number of performance markers', () => {
    fc.assert(
      fc.property(
        fc.nat(20),
        fc.constantFrom('success: Created', 'failure: boom'),
        fc.nat(3),
        (n, last, blank) => {
          expect(lastLine(`${markers.repeat(n)}${last}${'\n'.repeat(blank)}`)).toBe(last)
        },
      ),
    )
  })

  it('blames the end the server names, with an errno the classifier reads', () => {
    const cases: [string, 'pull' | 'push', RegExp, string][] = [
      [
        'failure: Remote side failed with status code 404; error message: "Unable to open /store/temp/nope; no such file or directory "',
        'pull',
        /^SOURCE \[2\] HTTP-TPC pull COPY failed: Remote side failed with status code 404/,
        'permanent-source',
      ],
      [
        'failure: Remote side failed with status code 403; error message: "forbidden"',
        'push',
        /^DESTINATION \[13\] /,
        'permanent-destination',
      ],
      ["failure: Couldn't connect to server", 'pull', /^TRANSFER \[111\] /, 'transient'],
      ['failure: Transfer timed out after 300 seconds', 'pull', /^TRANSFER \[110\] /, 'transient'],
    ]
    for (const [line, mode, reason, cls] of cases) {
      const r = copyFailureReason(line, mode)
      expect(r, line).toMatch(reason)
      expect(classify(r).class, r).toBe(cls)
    }
  })

  it('classifies XrdHttp refusals by what the server says, not only by its status', () => {
    // XrdHttp 5.5 answers 401 for the file system's EACCES: a refusal, not an expired credential
    const fsRefusal =
      'DESTINATION [13] HTTP 401 : Unable to create /store/ro/f1; permission denied (pull COPY)'
    expect(classify(fsRefusal).class).toBe('permanent-destination')
    expect(classify('DESTINATION [13] HTTP 401 : Unauthorized (pull COPY)').class).toBe('credential')
    expect(httpErrno(401, 'Unable to create /x; permission denied')).toBe(13)
    expect(httpErrno(400, 'Unable to create /x; no such file or directory')).toBe(2)
    expect(httpErrno(507, '')).toBe(28)
    expect(httpErrno(500, '')).toBe(5)
  })
})

describe('WebDAV answers', () => {
  it('finds adler32 among the digests of a Digest header', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(), (n, withMd5) => {
        const hex = n.toString(16)
        const header = withMd5 ? `md5=HUXZLQLMuI/KZ5KDcJPcOA==,adler32=${hex}` : `adler32=${hex}`
        expect(digestAdler32(header)).toBe(hex.padStart(8, '0'))
      }),
    )
    expect(digestAdler32(undefined)).toBeNull()
    expect(digestAdler32('md5=abc')).toBeNull()
  })

  it('reads size and type from PROPFIND', () => {
    expect(
      parsePropfind(
        '<lp1:getcontentlength>100000</lp1:getcontentlength><lp1:iscollection>0</lp1:iscollection>',
      ),
    ).toEqual({
      size: 100000,
      isDirectory: false,
    })
    expect(
      parsePropfind(
        '<lp1:getcontentlength>4096</lp1:getcontentlength><lp1:resourcetype><D:collection/></lp1:resourcetype>',
      ),
    ).toEqual({ size: 4096, isDirectory: true })
  })

  it('maps davs to https and walks up parents', () => {
    expect(toHttpUrl('davs://h:1/store/a')).toBe('https://h:1/store/a')
    expect(toHttpUrl('dav://h:1/store/a')).toBe('http://h:1/store/a')
    expect(parentUrl('https://h:1/store/a/b.root')).toBe('https://h:1/store/a')
    expect(parentUrl('https://h:1/b.root')).toBeNull()
  })

  it('words network and TLS failures as curl does, so they are retried', () => {
    const refused = connectionFailure({ code: 'ECONNREFUSED' }, 'DESTINATION', 'COPY https://h/x')
    expect(refused.reason).toBe('DESTINATION [111] Connection refused (COPY https://h/x)')
    const tls = connectionFailure(
      { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', message: 'unable to verify' },
      'SOURCE',
      'x',
    )
    expect(tls.reason).toMatch(/^SOURCE \[5\] SSL certificate problem: /)
    for (const e of [refused, tls]) expect(classify(e.reason).class).toBe('transient')
  })
})

describe('gfal2 tools', () => {
  it('takes the errno from the exit code and the scope from the wording', () => {
    const run = (code: number, stderr: string) =>
      gfalError('gfal-copy', { code, stdout: '', stderr }, 'TRANSFER').reason
    expect(
      run(2, 'gfal-copy error: 2 (No such file or directory) - Could not stat the source: No such file'),
    ).toBe('SOURCE [2] gfal-copy: Could not stat the source: No such file')
    expect(
      run(17, 'gfal-copy error: 17 (File exists) - Destination mock://d exists and overwrite is not set'),
    ).toMatch(/^DESTINATION \[17\] /)
    expect(
      run(5, 'gfal-copy error: 5 (Input/output error) - Source and destination checksums do not match'),
    ).toMatch(/^TRANSFER \[5\] /)
    expect(
      run(5, 'gfal-copy error: 5 (Input/output error) - User and source checksums do not match'),
    ).toMatch(/^SOURCE \[5\] Source and user-defined ADLER32 checksum do not match/)
    // no error line (a crash): the exit code and the last line
    expect(run(70, 'Traceback...\nSomething broke')).toBe('TRANSFER [70] gfal-copy: Something broke')
  })

  it('reads gfal-stat', () => {
    expect(parseGfalStat("  File: 'mock://h/f'\n  Size: 1000\tregular file\n")).toEqual({
      size: 1000,
      isDirectory: false,
    })
    expect(parseGfalStat("  File: 'file:///etc'\n  Size: 4096\tdirectory\n")).toEqual({
      size: 4096,
      isDirectory: true,
    })
  })
})
