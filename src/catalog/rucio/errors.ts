/**
 * What Rucio's refusals mean to the publisher. Rucio names its error in the headers `ExceptionClass` /
 * `ExceptionMessage` (and again in a JSON body); the status alone misleads: several user errors come back as
 * 500 (UnsupportedOperation, RSEProtocolNotSupported, RSEFileNameNotSupported, AccountNotFound, InvalidObject
 * on /replicas, and the bare `'pfn'` KeyError), while a 500 without a known class is the server's trouble.
 * Every reason says what Rucio answered (status, class, message) and what to check.
 */
import { CatalogError } from '../catalog.js'
import { parseJson, type RucioAnswer } from './http.js'

/** What Rucio said went wrong; `exceptionClass` is '' when it did not say. */
export interface RucioRefusal {
  status: number
  exceptionClass: string
  message: string
}

/** What a hint may name. */
export interface RefusalContext {
  rse: string
  scope: string
  /** the account the rule is for */
  ruleAccount: string
  /** the account the service authenticates as */
  serviceAccount: string
  /** the block's name, to tell a refused block name from a refused LFN */
  block?: string
}

/** Classes that are the request's (or the configuration's) fault whatever the status. */
const USER_ERRORS = new Set([
  'AccessDenied',
  'AccountNotFound',
  'CannotAuthenticate',
  'DataIdentifierNotFound',
  'Duplicate',
  'FileAlreadyExists',
  'InputValidationError',
  'InsufficientAccountLimit',
  'InsufficientTargetRSEs',
  'InvalidObject',
  'InvalidPath',
  'InvalidReplicationRule',
  'InvalidRSEExpression',
  'InvalidType',
  'InvalidValueForKey',
  'RSEFileNameNotSupported',
  'RSENotFound',
  'RSEProtocolNotSupported',
  'RSEWriteBlocked',
  'ScopeNotFound',
  'UnsupportedOperation',
])

/** Longest Rucio message quoted in a reason (RSEProtocolNotSupported quotes the whole RSE description). */
const MAX_MESSAGE = 400

export function refusalOf(answer: RucioAnswer): RucioRefusal {
  const body = parseJson(answer.text) as { ExceptionClass?: unknown; ExceptionMessage?: unknown } | undefined
  const exceptionClass = answer.headers.exceptionclass ?? String(body?.ExceptionClass ?? '')
  const message = answer.headers.exceptionmessage ?? String(body?.ExceptionMessage ?? answer.text.trim())
  return { status: answer.status, exceptionClass, message }
}

/** `404 ScopeNotFound "Scope not found!"`, shortened. */
export function describeRefusal(r: RucioRefusal): string {
  const message = r.message.length > MAX_MESSAGE ? `${r.message.slice(0, MAX_MESSAGE)}…` : r.message
  return `${r.status}${r.exceptionClass ? ` ${r.exceptionClass}` : ''} "${message}"`
}

/** true for a refusal worth retrying later: gateway errors, throttling, and 500s Rucio does not explain. */
export function isTransient(r: RucioRefusal): boolean {
  if ([408, 429, 502, 503, 504].includes(r.status)) return true
  if (r.exceptionClass === 'DatabaseException' || /database is locked/i.test(r.message)) return true
  if (r.status >= 500) return !USER_ERRORS.has(r.exceptionClass) && !isPfnKeyError(r)
  return false
}

/** Rucio's KeyError when one POST /replicas mixes files with and without `pfn`: 500, body `'pfn'`, no class. */
function isPfnKeyError(r: RucioRefusal): boolean {
  return r.status === 500 && r.exceptionClass === '' && r.message === "'pfn'"
}

/** A CatalogError from a Rucio answer, with what Rucio said for callers that adopt some refusals. */
export class RucioRefusalError extends CatalogError {
  constructor(
    failureClass: CatalogError['failureClass'],
    reason: string,
    readonly refusal: RucioRefusal,
  ) {
    super(failureClass, reason, refusal.status)
  }
}

/** The refusal of `what` as a CatalogError, with a hint when the class says what to fix. */
export function refusalError(answer: RucioAnswer, what: string, ctx: RefusalContext): RucioRefusalError {
  const r = refusalOf(answer)
  const said = `Rucio answered ${describeRefusal(r)} to ${what}`
  if (isTransient(r)) return new RucioRefusalError('catalog-transient', `${said}; retried later`, r)
  const hint = hintFor(r, ctx)
  return new RucioRefusalError('catalog-permanent', hint ? `${said}: ${hint}` : said, r)
}

function hintFor(r: RucioRefusal, ctx: RefusalContext): string | undefined {
  switch (r.exceptionClass) {
    case 'CannotAuthenticate':
      return `Rucio refused the service's credentials (account ${ctx.serviceAccount}): check catalog.auth`
    case 'AccessDenied':
      return `the service's account ${ctx.serviceAccount} may not do this: it needs Rucio admin rights to register replicas and rules in users' scopes`
    case 'ScopeNotFound':
      return `the scope ${ctx.scope} does not exist in Rucio: create it for the user's account (rucio-admin scope add --account ACCOUNT --scope ${ctx.scope}) or check the request's scope`
    case 'RSENotFound':
      return rseNotFoundHint(ctx.rse)
    case 'AccountNotFound':
      return `the account ${ctx.ruleAccount} does not exist in Rucio: check the user's Rucio account (the rule's owner)`
    case 'InsufficientAccountLimit':
      return `the account ${ctx.ruleAccount} has no quota at ${ctx.rse}: a Rucio admin sets one with rucio-admin account set-limits ${ctx.ruleAccount} ${ctx.rse} <bytes>`
    case 'InvalidObject': {
      const refused = `Rucio's naming schema refuses a name or value (its pattern is in the message; the generic schema allows names of letters, digits, '/', '.', '-', '_' only)`
      if (ctx.block && r.message.includes(`'${ctx.block}'`))
        return `${refused}: the block name comes from catalog.blockName; with a '#' in it use e.g. blockName: "{dataset}_{uuid}"`
      return `${refused}: this name cannot be registered in this Rucio`
    }
    case 'RSEProtocolNotSupported':
      return `the RSE ${ctx.rse} has no protocol for this PFN's scheme in Rucio: add one (rucio-admin rse add-protocol) or check the destination URL`
    case 'RSEFileNameNotSupported':
      return `the PFN does not fit the protocol Rucio has for ${ctx.rse} (host or prefix): fix the RSE's protocol or the destination URL`
    case 'InvalidPath':
      return `Rucio computes another PFN for this file at the deterministic RSE ${ctx.rse}`
    case 'InvalidRSEExpression':
      return `Rucio does not resolve the RSE expression ${ctx.rse}: check catalog.rses`
    default:
      if (isPfnKeyError(r))
        return `Rucio's KeyError 'pfn': one call mixed files with and without a PFN (a Rucio bug)`
      return undefined
  }
}

export function rseNotFoundHint(rse: string): string {
  return `Rucio has no RSE ${rse}: check catalog.rses, which maps ASO sites to Rucio RSEs`
}
