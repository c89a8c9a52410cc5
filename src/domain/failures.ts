/**
 * Failure classification (ARCHITECTURE.md section 8): an engine's reason string becomes a class, a retry flag
 * and a hint for the user. Pure; the rules themselves are the table in failure-rules.ts.
 */
import {
  ERRNO_RULES,
  FTS_FATAL_ERRNO,
  FTS_FATAL_TEXT,
  FTS_RECOVERABLE_TEXT,
  MESSAGE_RULES,
  type RuleClass,
  type Scope,
} from './failure-rules.js'

export const FAILURE_CLASSES = [
  'transient',
  'permanent-source',
  'permanent-destination',
  'quota',
  'credential',
  'queue-timeout',
  'exists',
  'corrupt-copy',
  'killed',
] as const
export type FailureClass = (typeof FAILURE_CLASSES)[number]

export interface Classification {
  class: FailureClass
  retry: boolean
  hint: string
}

export interface ParsedReason {
  scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER' | 'GENERAL_FAILURE' | null
  errno: number | null
  message: string
}

// Only these get another attempt (queue-timeout without charging one). Quota and credential are held by the
// agent instead, exists is settled by comparing, the rest would fail the same way again.
const RETRIED: ReadonlySet<FailureClass> = new Set<FailureClass>([
  'transient',
  'corrupt-copy',
  'queue-timeout',
])

const HINTS: Record<FailureClass, string> = {
  transient:
    'A temporary problem at a site or in the network: ASO retries the transfer by itself, later each time; nothing to do unless it keeps failing.',
  'permanent-source':
    'The file in the temporary area is missing, unreadable or not what the job wrote: rerun the job.',
  'permanent-destination':
    'The destination refused the file (permission, path or read-only storage): check that you may write to the destination path, then resubmit.',
  quota:
    'The destination is full or over quota: ASO holds your transfers to that site; free space or ask for more quota.',
  credential:
    'Your proxy or token expired: ASO holds your transfers until a valid one is available; renew it (voms-proxy-init).',
  'queue-timeout':
    'The transfer waited too long in the FTS queue: ASO submits it again without counting an attempt; nothing to do.',
  exists:
    'A file is already at the destination: ASO marks the transfer done if its size and checksum match, otherwise overwrites it as configured.',
  'corrupt-copy':
    'The copy at the destination does not match the source (checksum or size): ASO copies it again with overwrite and never accepts the bad copy.',
  killed: 'The transfer was cancelled (by you or for you): nothing more happens to it.',
}

/** The hint shown to users for a class, e.g. what to fix. */
export function hintFor(c: FailureClass): string {
  return HINTS[c]
}

// url-copy's "SCOPE [errno] message"; the errno is bounded so it always parses to a safe integer.
const SCOPED = /^(SOURCE|DESTINATION|TRANSFER|GENERAL_FAILURE) \[(-?\d{1,15})\](?: ([\s\S]*))?$/
// url-copy with an empty scope (contract example 9).
const ERRNO_ONLY = /^\[(-?\d{1,15})\](?: ([\s\S]*))?$/
// gfal-copy's CLI: "gfal-copy error: 2 (No such file or directory) - Could not stat the source: ...".
const GFAL_COPY = /^gfal-copy error: (\d{1,15}) \([^)]*\) - ([\s\S]*)$/

/** Splits "SCOPE [errno] message" (also "[errno] message" and unprefixed server reasons). */
export function parseReason(reason: string): ParsedReason {
  const scoped = SCOPED.exec(reason)
  if (scoped) {
    return { scope: scoped[1] as Scope, errno: Number(scoped[2]), message: scoped[3] ?? '' }
  }
  const bare = ERRNO_ONLY.exec(reason) ?? GFAL_COPY.exec(reason)
  if (bare) return { scope: null, errno: Number(bare[1]), message: bare[2] ?? '' }
  return { scope: null, errno: null, message: reason }
}

/** "SCOPE [errno] message", as url-copy writes it (and as our own engines must). `errno` is an integer. */
export function formatReason(
  scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER' | 'GENERAL_FAILURE',
  errno: number,
  message: string,
): string {
  return `${scope} [${errno}] ${message}`
}

/** FTS url-copy's own retry verdict (docs/fts3-rest.md §3 "FTS's recoverable rule"), used by our FTS3 test double. */
export function ftsRecoverable(reason: string): boolean {
  const { scope, errno, message } = parseReason(reason)
  if (FTS_RECOVERABLE_TEXT.some((s) => message.includes(s))) return true
  if (errno === 110) return true
  if (errno === 125) return false
  if (FTS_FATAL_TEXT.some((s) => message.includes(s))) return false
  return scope === null || errno === null || !FTS_FATAL_ERRNO[scope].includes(errno)
}

/**
 * Which end failed: url-copy's scope when it names one, else the message when it names exactly one end
 * (gfal2's "DESTINATION CHECKSUM", gfal-copy's "Could not stat the source").
 */
function sideOf(p: ParsedReason): 'SOURCE' | 'DESTINATION' | null {
  if (p.scope === 'SOURCE' || p.scope === 'DESTINATION') return p.scope
  const source = /\bsource\b/i.test(p.message)
  const destination = /\bdestination\b/i.test(p.message)
  if (source === destination) return null
  return source ? 'SOURCE' : 'DESTINATION'
}

function resolve(c: RuleClass, p: ParsedReason): FailureClass {
  const side = sideOf(p)
  if (c === 'denied') return side === 'SOURCE' ? 'permanent-source' : 'permanent-destination'
  if (c === 'missing') return side === 'SOURCE' ? 'permanent-source' : 'transient'
  return c
}

function byErrno(p: ParsedReason): FailureClass | null {
  if (p.errno === null) return null
  const scope = p.scope ?? sideOf(p)
  const errno = p.errno
  const rule = ERRNO_RULES.find(([scopes, errnos]) => scopes.includes(scope) && errnos.includes(errno))
  return rule ? rule[2] : null
}

// Last resort: trust a "no" from the engine only when the reason says which end to blame; an unknown
// failure of the copy itself (or of a server) is retried, as the attempts are bounded anyway.
function byVerdict(p: ParsedReason, engineRecoverable: boolean | undefined): FailureClass {
  const side = p.scope === 'TRANSFER' ? 'DESTINATION' : (p.scope ?? sideOf(p))
  if (engineRecoverable !== false || side === null || side === 'GENERAL_FAILURE') return 'transient'
  return side === 'SOURCE' ? 'permanent-source' : 'permanent-destination'
}

/** Maps an engine's reason string (plus the engine's own `recoverable` verdict where it has one) to a class. */
export function classify(reason: string, engineRecoverable?: boolean): Classification {
  const parsed = parseReason(reason)
  const rule = MESSAGE_RULES.find(([re]) => re.test(reason))
  const c = rule ? resolve(rule[1], parsed) : (byErrno(parsed) ?? byVerdict(parsed, engineRecoverable))
  return { class: c, retry: RETRIED.has(c), hint: HINTS[c] }
}
