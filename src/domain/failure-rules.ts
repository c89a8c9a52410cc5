/**
 * The failure classifier's rules (ARCHITECTURE.md section 8), kept apart from the code that applies them
 * (failures.ts) so the table reads top to bottom. MESSAGE_RULES are tried in order against the whole reason
 * and the first match wins, so a more specific meaning comes before a broader one: HTTP 507 is quota before
 * 5xx is transient, a source/user-defined checksum mismatch is the job's file before any mismatch is a bad
 * copy, an expired credential is the user's before "Permission denied" is the storage's.
 */
import type { FailureClass, ParsedReason } from './failures.js'

export type Scope = NonNullable<ParsedReason['scope']>

/**
 * 'denied' and 'missing' depend on the side that failed (`sideOf` in failures.ts). Refused: the source side
 * is permanent-source, any other permanent-destination. Missing: the source side is permanent-source; a
 * missing destination or an unattributed 404 (TPC pull) is transient, as FTS retries DESTINATION ENOENT.
 */
export type RuleClass = FailureClass | 'denied' | 'missing'

export const MESSAGE_RULES: ReadonlyArray<readonly [RegExp, RuleClass]> = [
  // Cancelled by the user (or by ASO for the user): stop. FTS's other "canceled" wordings are timeouts.
  [/\bcancel+ed by (the )?user\b/i, 'killed'],
  // FTS dropped it before it started: ASO queued more than the link could take, so requeue for free.
  [/stayed in the queue for too long|max-time-in-queue/i, 'queue-timeout'],
  // The site's own host certificate (curl error 60) or CRL is bad, not the user's: the site will fix it.
  [/SSL certificate problem|The available CRL has expired/i, 'transient'],
  // The user's proxy or token expired, was refused or is missing: hold the user until a new one arrives.
  // The gaps are bounded ({0,80}) so that a long reason full of "token" stays linear to match.
  // "space token" is a storage area, not a credential.
  [
    /\bproxy\b[^.;]{0,80}\bexpired\b|expired proxy|certificate has expired|alert certificate expired/i,
    'credential',
  ],
  [
    /\[TokenExchange\]|\b(invalid_grant|invalid_token|expired_token)\b|(?<!space )\btoken\b[^.;]{0,80}\b(expired|revoked|invalid)\b|\b(expired|invalid) (access |refresh |bearer )?token\b/i,
    'credential',
  ],
  [
    /\bauth(entication)? failed\b|SRM_AUTHENTICATION_FAILURE|\[3030\]|digest too big for rsa key/i,
    'credential',
  ],
  // XrdHttp answers 401 when the file system refuses it (EACCES) and says so: a refusal, not a credential
  [/Unable to \w+ [^;\n]{1,500}; permission denied/i, 'denied'],
  [
    /\bHTTP 401\b|status code 401\b|\b401 Unauthori[sz]ed\b|No delegation found|delegated credentials? (has |have )?expired/i,
    'credential',
  ],
  // The file in the temp area is not what the job recorded (or not on disk): only rerunning the job helps.
  [
    /source and user[- ]defined|user[- ]defined (checksum )?and source|source file is not ONLINE/i,
    'permanent-source',
  ],
  // The destination copy differs from the source or could not be verified: copy again with overwrite.
  [
    /checksums? (do not|don't|does not) match|checksum (mismatch|error)|size mismatch|sizes? (do not|don't|does not) match|\[3019\]/i,
    'corrupt-copy',
  ],
  // gfal2's "DESTINATION CHECKSUM" note: the copy finished but reading its checksum failed (even 404).
  [/\bDESTINATION CHECKSUM\b/, 'corrupt-copy'],
  // Something is already there: the agent compares it with the record (DONE, or overwrite per policy).
  [/\bfile exists\b|SRM_DUPLICATION_ERROR|\[3018\]/i, 'exists'],
  // The destination is full or the user is over quota: hold the user's transfers to that site.
  [
    /No space left on device|quota exceeded|\bover ?quota\b|\bHTTP 507\b|status code 507\b|Insufficient Storage|all pools are full|does not have enough space|not enough (free )?space|SRM_NO_FREE_SPACE|\bE(NOSPC|DQUOT)\b|\[30(09|21)\]/i,
    'quota',
  ],
  // The storage refused access: which side refused decides whose problem it is.
  [
    /permission (denied|refused)|operation not permitted|\bHTTP 403\b|status code 403\b|\b403 Forbidden\b|not authori[sz]ed|\[3010\]|530[- ]Login incorrect|read-only file system|\[3025\]|\bE(ACCES|PERM|ROFS)\b/i,
    'denied',
  ],
  // The destination path cannot be created: CRAB counts these as permanent, retrying does not help.
  [/mkdir\(\) fail|open\/create error|cannot create directory/i, 'permanent-destination'],
  // Nothing at that path: fatal on the source side only.
  [
    /No such file or directory|file not found|\bHTTP 404\b|status code 404\b|\[3011\]|SRM_INVALID_PATH|\bENOENT\b/i,
    'missing',
  ],
  // Network and TLS trouble (curl, globus, xrdcp client errors): retry with backoff.
  [
    /connection (refused|reset|timed out|closed|terminated|error|limit)|could not open connection|communication error|broken pipe|network is unreachable|no route to host|name or service not known|temporary failure in name resolution|could not resolve host/i,
    'transient',
  ],
  [
    /curl error|SSL connect error|handshake|end-of-file was reached|end of file occurred|\[FATAL\]/i,
    'transient',
  ],
  // Busy or failing servers (5xx, xrootd FSError/IOError/ServerError/noserver/Overloaded/timeouts).
  [
    /\bHTTP 5\d\d\b|status code 5\d\d\b|server error|bad gateway|service unavailable|gateway time-?out|service busy|try again later|too many (connections|requests)|SRM_INTERNAL_ERROR|\[30(05|07|12|14|24|34|35)\]/i,
    'transient',
  ],
  // Timeouts, stalls and FTS's own process trouble (FTS retries these itself, and the copy may even be there).
  [
    /timed out|timeout|operation expired|stalled|forced-killed|forcefully killed|forced-canceled|performance marker|process died|failed to fork|No FTS server has updated|Can not determine address of local host/i,
    'transient',
  ],
]

/**
 * When no message rule decides: (scopes, errnos, class), first match wins. `null` in scopes means a reason
 * without any side. Mostly FTS's non-recoverable scope/errno lists, refined: ENOSPC/EDQUOT are quota and
 * EEXIST is exists. ETIMEDOUT is always worth a retry; ECANCELED here is a cancel the user did not ask for
 * (theirs reads "canceled by the user"), e.g. an FTS node draining, so it is retried too.
 */
export const ERRNO_RULES: ReadonlyArray<
  readonly [ReadonlyArray<Scope | null>, readonly number[], FailureClass]
> = [
  [['SOURCE', 'DESTINATION', 'TRANSFER', 'GENERAL_FAILURE', null], [110, 125], 'transient'],
  [['DESTINATION', 'TRANSFER', 'GENERAL_FAILURE', null], [28, 122], 'quota'],
  [['DESTINATION', 'TRANSFER', 'GENERAL_FAILURE', null], [17], 'exists'],
  [['SOURCE'], [2, 1, 13, 21, 36, 7, 20, 93], 'permanent-source'],
  // ENOTDIR (20) and ENOENT (2) are not here: FTS retries them on the destination side.
  [['DESTINATION'], [1, 13, 21, 7, 30, 14, 36, 93], 'permanent-destination'],
  [['TRANSFER', 'GENERAL_FAILURE'], [1, 13, 27, 30, 36, 93], 'permanent-destination'],
]

// FTS url-copy's retryTransfer(), verbatim (docs/fts3-rest.md §3 "FTS's recoverable rule"): case-sensitive.
export const FTS_RECOVERABLE_TEXT: readonly string[] = [
  'performance marker',
  'Name or service not known',
  'Connection timed out',
  'end-of-file was reached',
  'end of file occurred',
  'SRM_INTERNAL_ERROR',
  'was forcefully killed',
  'operation timeout',
]

export const FTS_FATAL_TEXT: readonly string[] = [
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
]

export const FTS_FATAL_ERRNO: Readonly<Record<Scope, readonly number[]>> = {
  SOURCE: [2, 1, 13, 21, 36, 7, 20, 93],
  DESTINATION: [1, 13, 21, 7, 30, 14, 36, 93, 17],
  TRANSFER: [28, 1, 13, 17, 27, 30, 36, 93],
  GENERAL_FAILURE: [28, 1, 13, 17, 27, 30, 36, 93],
}
