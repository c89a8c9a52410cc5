import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Classification,
  classify,
  FAILURE_CLASSES,
  type FailureClass,
  formatReason,
  ftsRecoverable,
  hintFor,
  type ParsedReason,
  parseReason,
} from '../../src/domain/failures.js'

type Scope = NonNullable<ParsedReason['scope']>
const SCOPES: readonly Scope[] = ['SOURCE', 'DESTINATION', 'TRANSFER', 'GENERAL_FAILURE']
const RETRIED: readonly FailureClass[] = ['transient', 'corrupt-copy', 'queue-timeout']

interface Row {
  reason: string
  class: FailureClass
  retry: boolean
  note: string
}

function isFailureClass(s: string): s is FailureClass {
  return (FAILURE_CLASSES as readonly string[]).includes(s)
}

// The table of real reasons (test/fixtures/failure-reasons.tsv): reason, class, retry, note.
function readRows(): Row[] {
  const text = readFileSync(new URL('../fixtures/failure-reasons.tsv', import.meta.url), 'utf8')
  return text
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const [reason = '', cls = '', retry = '', note = ''] = line.split('\t')
      if (!isFailureClass(cls) || (retry !== 'yes' && retry !== 'no')) throw new Error(`bad tsv row: ${line}`)
      return { reason, class: cls, retry: retry === 'yes', note }
    })
}

function expectConsistent(c: Classification): void {
  expect(FAILURE_CLASSES).toContain(c.class)
  expect(c.retry).toBe(RETRIED.includes(c.class))
  expect(c.hint).toBe(hintFor(c.class))
}

describe('classify: failure-reasons.tsv', () => {
  const rows = readRows()

  it('reads the whole table', () => {
    expect(rows.length).toBeGreaterThanOrEqual(27)
  })

  for (const row of rows) {
    it(`${row.class}: ${row.reason}`, () => {
      const c = classify(row.reason)
      expect(c.class).toBe(row.class)
      expect(c.retry).toBe(row.retry)
      // The engine's verdict is an input, not the answer: none of these rows depends on it.
      for (const verdict of [true, false, ftsRecoverable(row.reason)]) {
        expect(classify(row.reason, verdict)).toEqual(c)
      }
    })
  }
})

// docs/fts3-rest.md §3 "Reason strings", in its order; '…' stands for text the list leaves out.
const CONTRACT_EXAMPLES: ReadonlyArray<readonly [number, string, FailureClass]> = [
  [1, 'DESTINATION [17] Destination file exists and overwrite is not enabled', 'exists'],
  [
    2,
    'DESTINATION [17] Destination file exists and is on tape (overwrite-when-only-on-disk requested)',
    'exists',
  ],
  [3, 'SOURCE [2] Result HTTP 404 : File not found  after 1 attempts', 'permanent-source'],
  [4, 'SOURCE [1] HTTP 403 : Permission refused', 'permanent-source'],
  [5, 'DESTINATION [1] HTTP 403 : Permission refused', 'permanent-destination'],
  [
    6,
    'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 507 : Insufficient Storage',
    'quota',
  ],
  [
    7,
    'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 500 : Unexpected server error: 500',
    'transient',
  ],
  [
    8,
    'TRANSFER [112] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy curl error (52): Server returned nothing (no headers. no data)',
    'transient',
  ],
  [
    9,
    '[5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: Connection terminated abruptly; Status of TPC request unknown',
    'transient',
  ],
  [
    10,
    'SOURCE [112] Result curl error (56): Failure when receiving data from the peer after 1 attempts',
    'transient',
  ],
  [
    11,
    'DESTINATION [112] Result curl error (56): Failure when receiving data from the peer after 1 attempts',
    'transient',
  ],
  [12, 'DESTINATION [13] Result curl error (35): SSL connect error after 1 attempts', 'transient'],
  [13, 'DESTINATION [110] curl error (28): Timeout was reached', 'transient'],
  [
    14,
    'DESTINATION [112] Result curl error (52): Server returned nothing (no headers. no data) after 1 attempts',
    'transient',
  ],
  [15, 'TRANSFER [110] TRANSFER  Operation timed out', 'transient'],
  [
    16,
    'TRANSFER [110] TRANSFER Transfer canceled because the gsiftp performance marker timeout of 360 seconds has been exceeded, or all performance markers during that period indicated zero bytes transferred',
    'transient',
  ],
  [
    17,
    'SOURCE [70] globus_ftp_client: the server responded with an error 421 Service busy: Connection limit exceeded. Please try again later. Closing control connection.',
    'transient',
  ],
  [
    18,
    'TRANSFER [70] DESTINATION OVERWRITE srm-ifce err: Communication error on send, err: [SE][srmRm][] httpg://h:8446/srm/managerv2: CGSI-gSOAP running on fts446.cern.ch reports could not open connection to h:8446',
    'transient',
  ],
  [
    19,
    'TRANSFER [5] TRANSFER CHECKSUM MISMATCH Source and destination checksums do not match 6752692d != 8a426f8e',
    'corrupt-copy',
  ],
  // Judgement: the copy finished but its checksum could not be read back, so it is unverified: redo it with
  // overwrite (corrupt-copy) rather than plain retry, so that it can never be taken as DONE.
  [20, 'TRANSFER [2] DESTINATION CHECKSUM HTTP 404 : File not found', 'corrupt-copy'],
  [
    21,
    'SOURCE [5] Source and user-defined ADLER32 checksum do not match (1234abcd != 5678ef01)',
    'permanent-source',
  ],
  [22, 'DESTINATION [5] User-defined and destination adler32 checksum do not match (…)', 'corrupt-copy'],
  [23, 'DESTINATION [5] Source and destination ADLER32 checksum do not match (…)', 'corrupt-copy'],
  [24, 'DESTINATION [22] Source and destination file size mismatch', 'corrupt-copy'],
  [
    25,
    'Job has been canceled because it stayed in the queue for too long (max-time-in-queue timeout)',
    'queue-timeout',
  ],
  [26, 'Job has been canceled because it stayed in the queue for too long (global timeout)', 'queue-timeout'],
  [27, 'Job canceled by the user', 'killed'],
  [28, 'Transfer has been forced-killed because it was stalled', 'transient'],
  [29, 'No FTS server has updated the transfer status the last 900 seconds. Probably stalled', 'transient'],
  [30, '[TokenExchange] Failed to get refresh token for source token: …', 'credential'],
  [31, 'GENERAL_FAILURE [4] Transfer process died with: …', 'transient'],
  [32, 'Transfer failed to fork, check fts3server.log for more details', 'transient'],
  [
    33,
    'Transfer has been forced-canceled because it has been in staging started state beyond its bringonline timeout',
    'transient',
  ],
]

describe('classify: docs/fts3-rest.md examples', () => {
  it('covers all 33', () => {
    expect(CONTRACT_EXAMPLES.map(([n]) => n)).toEqual(Array.from({ length: 33 }, (_, i) => i + 1))
  })

  for (const [n, reason, cls] of CONTRACT_EXAMPLES) {
    it(`#${n} is ${cls}`, () => {
      const c = classify(reason)
      expect(c.class).toBe(cls)
      expectConsistent(c)
      expect(classify(reason, ftsRecoverable(reason)).class).toBe(cls)
    })
  }
})

describe('classify: other wordings and fallbacks', () => {
  const cases: ReadonlyArray<readonly [string, FailureClass]> = [
    // gfal-copy's CLI wording
    [
      'gfal-copy error: 2 (No such file or directory) - Could not stat the source: errno reported by local system call No such file or directory',
      'permanent-source',
    ],
    ['gfal-copy error: 17 (File exists) - The file exists and overwrite is not set', 'exists'],
    [
      'gfal-copy error: 13 (Permission denied) - DESTINATION MAKE_PARENT srm-ifce err: mkdir',
      'permanent-destination',
    ],
    ['gfal-copy error: 28 (No space left on device) - TRANSFER ERROR: write failed', 'quota'],
    ['gfal-copy error: 110 (Connection timed out) - TRANSFER ERROR: no progress', 'transient'],
    ['gfal-copy error: 70 (Communication error on send) - Could not open destination', 'transient'],
    // xrdcp wording and xrootd status codes
    ['DESTINATION [5] [ERROR] Server responded with an error: [3021] Quota exceeded', 'quota'],
    ['DESTINATION [17] [ERROR] Server responded with an error: [3018] File exists', 'exists'],
    ['TRANSFER [5] [ERROR] Server responded with an error: [3024] Server overloaded', 'transient'],
    ['TRANSFER [5] [FATAL] Auth failed: No protocols left to try', 'credential'],
    ['DESTINATION [2] [ERROR] Server responded with an error: [3011] No such file or directory', 'transient'],
    [
      'TRANSFER [5] [ERROR] Server responded with an error: [3010] Unable to open file',
      'permanent-destination',
    ],
    // quota wordings of the storages
    ['DESTINATION [5] Result HTTP 507 : Insufficient Storage after 1 attempts', 'quota'],
    ['DESTINATION [28] No space left on device', 'quota'],
    ['DESTINATION [122] Disk quota exceeded', 'quota'],
    ['TRANSFER [5] TRANSFER ERROR: dCache: All pools are full', 'quota'],
    ['DESTINATION [5] User /cms/Role=NULL does not have enough space', 'quota'],
    // credentials: the user's, not the site's
    [
      'SOURCE [1] globus: The certificate has expired: Credential with subject /DC=ch/CN=x has expired',
      'credential',
    ],
    [
      'DESTINATION [13] Result curl error (35): error:14094415:SSL routines:sslv3 alert certificate expired',
      'credential',
    ],
    ['DESTINATION [13] curl error (60): SSL certificate problem: certificate has expired', 'transient'],
    ['SOURCE [13] The available CRL has expired', 'transient'],
    ['DESTINATION [1] Result HTTP 401 : Unauthorized after 1 attempts', 'credential'],
    ['TRANSFER [13] Token has expired', 'credential'],
    ['DESTINATION [22] Invalid space token requested', 'transient'],
    ['SOURCE [13] SRM_AUTHENTICATION_FAILURE', 'credential'],
    // refused or missing: the side decides
    ['TRANSFER [13] TRANSFER ERROR: Operation not permitted', 'permanent-destination'],
    ['Permission denied', 'permanent-destination'],
    ['DESTINATION [30] Read-only file system', 'permanent-destination'],
    ['DESTINATION [13] mkdir() failed on /store/user/x', 'permanent-destination'],
    ['DESTINATION [2] Result HTTP 404 : File not found after 1 attempts', 'transient'],
    ['TRANSFER [2] SOURCE CHECKSUM HTTP 404 : File not found', 'permanent-source'],
    ['SOURCE [2] The source file is not ONLINE', 'permanent-source'],
    // scope/errno fallback (nothing in the message decides)
    ['SOURCE [21] Is a directory', 'permanent-source'],
    ['SOURCE [20] Something odd', 'permanent-source'],
    ['DESTINATION [20] Not a directory', 'transient'],
    ['DESTINATION [36] Something odd', 'permanent-destination'],
    ['TRANSFER [27] File too large', 'permanent-destination'],
    ['TRANSFER [17] Something odd', 'exists'],
    ['SOURCE [17] Something odd', 'transient'],
    ['TRANSFER [125] Something odd', 'transient'],
    ['DESTINATION [5] Something odd', 'transient'],
    ['Something odd the server said', 'transient'],
    ['', 'transient'],
  ]

  for (const [reason, cls] of cases) {
    it(`${cls}: ${reason || '(empty)'}`, () => {
      const c = classify(reason)
      expect(c.class).toBe(cls)
      expectConsistent(c)
    })
  }

  it('uses the engine verdict only when nothing else decides', () => {
    expect(classify('DESTINATION [5] Something odd', true).class).toBe('transient')
    expect(classify('DESTINATION [5] Something odd', false).class).toBe('permanent-destination')
    expect(classify('TRANSFER [5] Something odd', false).class).toBe('permanent-destination')
    expect(classify('SOURCE [5] Something odd', false).class).toBe('permanent-source')
    // no end to blame: a server-side or unattributed failure is retried (attempts are bounded)
    expect(classify('GENERAL_FAILURE [5] Something odd', false).class).toBe('transient')
    expect(classify('[5] Something odd', false).class).toBe('transient')
    expect(classify('Something odd the server said', false).class).toBe('transient')
    // the verdict never overrides the message or the scope/errno rules
    expect(classify('SOURCE [2] Something odd', true).class).toBe('permanent-source')
    expect(classify('DESTINATION [28] Something odd', true).class).toBe('quota')
    expect(classify('DESTINATION [110] Something odd', false).class).toBe('transient')
  })
})

describe('hintFor', () => {
  it('gives every class its own one-sentence hint', () => {
    const hints = FAILURE_CLASSES.map(hintFor)
    expect(new Set(hints).size).toBe(FAILURE_CLASSES.length)
    for (const h of hints) expect(h).toMatch(/^[A-Z][^.]*(\([^)]*\)[^.]*)?\.$/)
    expect(hintFor('quota')).toMatch(/holds your transfers/)
    expect(hintFor('credential')).toMatch(/voms-proxy-init/)
    expect(hintFor('permanent-source')).toMatch(/rerun the job/)
  })
})

describe('parseReason / formatReason', () => {
  it('splits url-copy reasons', () => {
    expect(parseReason('SOURCE [2] Result HTTP 404 : File not found  after 1 attempts')).toEqual({
      scope: 'SOURCE',
      errno: 2,
      message: 'Result HTTP 404 : File not found  after 1 attempts',
    })
    expect(parseReason('TRANSFER [110] TRANSFER  Operation timed out')).toEqual({
      scope: 'TRANSFER',
      errno: 110,
      message: 'TRANSFER  Operation timed out',
    })
    expect(parseReason('GENERAL_FAILURE [4] Transfer process died with: x').scope).toBe('GENERAL_FAILURE')
  })

  it('splits a reason without scope', () => {
    expect(parseReason('[5] TRANSFER ERROR: Copy failed')).toEqual({
      scope: null,
      errno: 5,
      message: 'TRANSFER ERROR: Copy failed',
    })
  })

  it('keeps server reasons whole', () => {
    for (const r of [
      'Job canceled by the user',
      '[TokenExchange] Failed to get refresh token',
      'SOURCE x',
      '',
    ]) {
      expect(parseReason(r)).toEqual({ scope: null, errno: null, message: r })
    }
  })

  it('takes the errno of gfal-copy', () => {
    expect(
      parseReason('gfal-copy error: 17 (File exists) - The file exists and overwrite is not set'),
    ).toEqual({
      scope: null,
      errno: 17,
      message: 'The file exists and overwrite is not set',
    })
  })

  it('formats as url-copy does', () => {
    expect(formatReason('DESTINATION', 17, 'Destination file exists and overwrite is not enabled')).toBe(
      'DESTINATION [17] Destination file exists and overwrite is not enabled',
    )
  })

  it('round-trips any scope, errno and message', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SCOPES),
        fc.integer(),
        fc.string({ unit: 'binary' }),
        (scope, errno, message) => {
          expect(parseReason(formatReason(scope, errno, message))).toEqual({ scope, errno, message })
        },
      ),
    )
  })
})

describe('ftsRecoverable', () => {
  it('retries on the recoverable substrings, whatever the scope and errno', () => {
    for (const s of [
      'performance marker',
      'Name or service not known',
      'Connection timed out',
      'end-of-file was reached',
      'end of file occurred',
      'SRM_INTERNAL_ERROR',
      'was forcefully killed',
      'operation timeout',
    ]) {
      expect(ftsRecoverable(`SOURCE [2] x ${s} y`)).toBe(true)
      expect(ftsRecoverable(`TRANSFER [125] ${s} Permission denied`)).toBe(true)
    }
  })

  it('retries ETIMEDOUT (110) and never ECANCELED (125)', () => {
    expect(ftsRecoverable('SOURCE [110] Permission denied')).toBe(true)
    expect(ftsRecoverable('SOURCE [125] Something')).toBe(false)
    expect(ftsRecoverable('DESTINATION [125] Something')).toBe(false)
  })

  it('does not retry on the fatal substrings (case-sensitive)', () => {
    for (const s of [
      'proxy expired',
      'with an error 550 File not found',
      'File exists and overwrite',
      'No such file or directory',
      'SRM_INVALID_PATH',
      'The certificate has expired',
      'The available CRL has expired',
      'SRM Authentication failed',
      'SRM_DUPLICATION_ERROR',
      'SRM_AUTHENTICATION_FAILURE',
      'SRM_NO_FREE_SPACE',
      'digest too big for rsa key',
      'Can not determine address of local host',
      'Permission denied',
      'System error in write into HDFS',
      'File exists',
      'checksum do not match',
      'CHECKSUM MISMATCH',
      'The source file is not ONLINE',
    ]) {
      expect(ftsRecoverable(`TRANSFER [5] x ${s} y`)).toBe(false)
      expect(ftsRecoverable(`x ${s} y`)).toBe(false)
    }
    expect(ftsRecoverable('TRANSFER [5] permission denied')).toBe(true)
  })

  it('does not retry the listed scope/errno pairs', () => {
    const fatal: Record<Scope, number[]> = {
      SOURCE: [2, 1, 13, 21, 36, 7, 20, 93],
      DESTINATION: [1, 13, 21, 7, 30, 14, 36, 93, 17],
      TRANSFER: [28, 1, 13, 17, 27, 30, 36, 93],
      GENERAL_FAILURE: [28, 1, 13, 17, 27, 30, 36, 93],
    }
    for (const scope of SCOPES) {
      for (const errno of fatal[scope]) expect(ftsRecoverable(formatReason(scope, errno, 'x'))).toBe(false)
    }
  })

  it('retries anything else', () => {
    for (const r of [
      'SOURCE [5] x',
      'DESTINATION [22] x',
      'TRANSFER [70] x',
      'DESTINATION [112] x',
      'DESTINATION [2] x',
      'DESTINATION [20] x',
      'DESTINATION [28] x',
      'SOURCE [17] x',
      'SOURCE [28] x',
      '[13] x',
      'Something the server said',
      // FTS retries 507 although it is quota (the caveat in docs/fts3-rest.md §3)
      'TRANSFER [5] TRANSFER ERROR: Copy failed (3rd pull). Last attempt: copy HTTP 507 : Insufficient Storage',
    ]) {
      expect(ftsRecoverable(r)).toBe(true)
    }
  })
})

describe('classify: properties', () => {
  const verdict = fc.option(fc.boolean(), { nil: undefined })
  const formatted = fc
    .tuple(fc.constantFrom(...SCOPES), fc.integer({ min: -1, max: 200 }), fc.string())
    .map(([scope, errno, message]) => formatReason(scope, errno, message))

  it('always answers a known class, consistently, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), verdict, (reason, v) => {
        expectConsistent(classify(reason, v))
        expect(typeof ftsRecoverable(reason)).toBe('boolean')
      }),
    )
  })

  it('always answers a known class, consistently, for any url-copy reason', () => {
    fc.assert(
      fc.property(formatted, verdict, (reason, v) => {
        expectConsistent(classify(reason, v))
      }),
    )
  })

  it('never retries permanent failures', () => {
    fc.assert(
      fc.property(fc.oneof(formatted, fc.string()), verdict, (reason, v) => {
        const c = classify(reason, v)
        if (c.class.startsWith('permanent-')) expect(c.retry).toBe(false)
      }),
    )
  })
})
