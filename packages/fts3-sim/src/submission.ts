/**
 * `POST /jobs`: from the request's JSON to a job and its files, with the server's checks in the server's
 * order (fts-rest-flask JobBuilder; docs/fts3-rest.md §2, §7).
 */
import { createHash } from 'node:crypto'
import type { Caller } from './caller.js'
import { badRequest, FtsHttpError } from './http-errors.js'
import { deterministicJobId, uuid1 } from './job-ids.js'
import type { FileState, JobType, SimFile, SimJob } from './job-model.js'
import {
  PyKeyError,
  PyTypeError,
  PyValueError,
  pyFloat,
  pyTypeName,
  submissionError,
} from './python-values.js'
import { type Dict, isDict } from './request-body.js'
import {
  jobMetadataOf,
  jobParams,
  mergedParams,
  metadataValue,
  tapeMetadataValue,
} from './submission-params.js'
import { parseUrl, storageElement } from './wire-format.js'

const STRATEGIES = new Set([
  'auto',
  'orderly',
  'queue',
  'success',
  'throughput',
  'file-throughput',
  'pending-data',
  'waiting-time',
  'waiting-time-with-error',
  'duration',
])

export interface SubmissionContext {
  caller: Caller
  now: number
  submitHost: string
}

/** `validate_url`: scheme, not file://, a path, a host; the message names the URL. */
function checkedUrl(raw: unknown): string {
  if (typeof raw !== 'string') {
    throw new FtsHttpError(500) // the server calls .strip() on it: an AttributeError, not a 400
  }
  const url = raw.trim()
  const u = parseUrl(url)
  if (!u.scheme) throw new PyValueError(`Missing scheme (${url})`)
  if (u.scheme === 'file') throw new PyValueError(`Can not transfer local files (${url})`)
  if (!u.path || (u.path === '/' && !u.query)) throw new PyValueError(`Missing path (${url})`)
  if (!u.hostname) throw new PyValueError(`Missing host (${url})`)
  return url
}

/** Python iteration over a JSON value: lists item by item, strings by character, dicts by key. */
function pyIterate(v: unknown): unknown[] {
  if (Array.isArray(v)) return v
  if (typeof v === 'string') return [...v]
  if (isDict(v)) return Object.keys(v)
  throw new PyTypeError(`'${pyTypeName(v)}' object is not iterable`)
}

function pyItem(container: unknown, key: string): unknown {
  if (isDict(container)) {
    if (!(key in container)) throw new PyKeyError(key)
    return container[key]
  }
  if (typeof container === 'string') throw new PyTypeError('string indices must be integers')
  if (Array.isArray(container)) throw new PyTypeError('list indices must be integers or slices, not str')
  throw new PyTypeError(`'${pyTypeName(container)}' object is not subscriptable`)
}

/** overwrite-when-only-on-disk needs Tape REST, so HTTP destinations (the last hop's, for multihop). */
function onlyHttpDestinations(files: unknown, multihop: boolean): void {
  const list = Array.isArray(files) ? files : []
  const checked = multihop ? list.slice(-1) : list
  for (const f of checked) {
    const destinations = isDict(f) && Array.isArray(f.destinations) ? f.destinations : []
    for (const d of destinations) {
      if (!/^(https|davs|mock):\/\//.test(String(d))) {
        throw badRequest(
          "'overwrite-when-only-on-disk' requires destination to be HTTPs endpoint (Tape REST API required)",
        )
      }
    }
  }
}

const optionalTapeMetadata = (v: unknown, hint: string): Record<string, unknown> | null =>
  v === undefined || v === null ? null : tapeMetadataValue(v, hint)

/**
 * Staging jobs read from root:// with the file's activity in the query (for EOS-CTA): the source gets
 * `activity=…`, and so does a destination equal to it (a stage-in-only file stays source = destination).
 */
function withStagingActivity(src: string, dst: string, activity: string): [string, string] {
  if (parseUrl(src).scheme !== 'root') return [src, dst]
  const tagged = (url: string): string =>
    `${url}${url.includes('?') ? '&' : '?'}${new URLSearchParams({ activity })}`
  return [tagged(src), src === dst ? tagged(dst) : dst]
}

const tokenId = (token: string): string => createHash('sha1').update(token, 'utf8').digest('hex').slice(0, 16)

/** Validates a submission and builds its job (file ids are given when it is stored). */
export function buildJob(body: Dict, ctx: SubmissionContext): SimJob {
  try {
    return build(body, ctx)
  } catch (err) {
    throw submissionError(err)
  }
}

function build(body: Dict, ctx: SubmissionContext): SimJob {
  const { caller } = ctx
  const p = mergedParams(body.params)
  const jobMetadata = jobMetadataOf(p, caller.method)
  if (body.delete !== undefined && body.delete !== null) {
    throw new FtsHttpError(405, 'Deletion jobs are no longer supported by FTS')
  }
  if (body.files === undefined || body.files === null) throw badRequest('No transfers operations specified')
  const vo = caller.vos[0] ?? ''
  let jobId: string
  let sid: string | null = null
  if (p.id_generator === 'deterministic') {
    if (p.sid === undefined || p.sid === null)
      throw badRequest('Need sid for deterministic job id generation')
    if (typeof p.sid !== 'string') {
      throw new PyTypeError(`can only concatenate str (not "${pyTypeName(p.sid)}") to str`)
    }
    sid = p.sid
    jobId = deterministicJobId(vo, sid)
  } else {
    jobId = uuid1(ctx.now)
  }
  const params = jobParams(p)
  if (params.overwriteFlag === 'D' || params.overwriteFlag === 'Q')
    onlyHttpDestinations(body.files, params.multihop)
  const bringOnline = params.copyPinLifetime > 0 || params.bringOnline > 0
  const entryState: FileState = bringOnline ? 'STAGING' : 'SUBMITTED'
  const token = caller.method === 'oauth2' && caller.token ? tokenId(caller.token) : null

  const files: SimFile[] = []
  let hasChecksum = false
  pyIterate(body.files).forEach((fileDict, fileIndex) => {
    const sources = pyIterate(pyItem(fileDict, 'sources'))
    const pairs: [string, string][] = []
    for (const source of sources) {
      const src = checkedUrl(source)
      for (const destination of pyIterate(pyItem(fileDict, 'destinations'))) {
        pairs.push([src, checkedUrl(destination)])
      }
    }
    const d = fileDict as Dict
    const initial: FileState = sources.length > 1 || params.multihop ? 'NOT_USED' : entryState
    const checksum = d.checksum ?? null
    if (checksum !== null) hasChecksum = String(checksum).length > 0
    const scitag = d.scitag ?? null
    if (
      scitag !== null &&
      (typeof scitag !== 'number' || !Number.isInteger(scitag) || scitag < 65 || scitag > 65535)
    ) {
      throw badRequest(`Invalid SciTag value: ${String(scitag)} (not in [65, 65535])`)
    }
    const activity = typeof d.activity === 'string' ? d.activity : 'default'
    for (const pair of pairs) {
      const [src, dst] = bringOnline ? withStagingActivity(pair[0], pair[1], activity) : pair
      files.push({
        fileId: 0,
        fileIndex,
        jobId,
        fileState: initial,
        fileStateInitial: '',
        sourceSurl: src,
        destSurl: dst,
        sourceSe: storageElement(src),
        destSe: storageElement(dst),
        voName: vo,
        priority: params.priority,
        reason: null,
        recoverable: null,
        retry: 0,
        filesize: null,
        userFilesize: Math.trunc(pyFloat(d.filesize)),
        checksum: checksum === null ? 'ADLER32' : String(checksum),
        startTime: null,
        finishTime: null,
        stagingStart: null,
        stagingFinished: null,
        txDuration: null,
        throughput: null,
        transferHost: null,
        logFile: null,
        fileMetadata:
          d.metadata === undefined || d.metadata === null ? null : metadataValue(d.metadata, 'File metadata'),
        stagingMetadata: optionalTapeMetadata(d.staging_metadata, 'Staging metadata'),
        archiveMetadata: optionalTapeMetadata(d.archive_metadata, 'Archive metadata'),
        activity,
        selectionStrategy: typeof d.selection_strategy === 'string' ? d.selection_strategy : 'auto',
        scitag: scitag as number | null,
        pid: null,
        destSurlUuid: null,
        srcTokenId: token,
        dstTokenId: token,
        eligibleAt: 0,
        attempts: [],
        retries: [],
      })
    }
  })
  if (files.length === 0) throw badRequest('No valid pairs available')

  let verify = params.verifyChecksum
  if (typeof verify === 'boolean') verify = verify ? 'both' : hasChecksum ? 'target' : 'none'
  if (typeof verify !== 'string') throw new PyTypeError(`'${pyTypeName(verify)}' object is not subscriptable`)
  if (verify === '') throw new FtsHttpError(500) // IndexError on the server
  const first = files[0]!
  const sameSource = files.every((f) => f.sourceSe === first.sourceSe)
  const sameDest = files.every((f) => f.destSe === first.destSe)
  let jobType: JobType = params.multihop ? 'H' : params.reuse ? 'Y' : 'N'
  const sourceSe = jobType === 'H' ? first.sourceSe : sameSource ? first.sourceSe : null
  const destSe = jobType === 'H' ? files.at(-1)!.destSe : sameDest ? first.destSe : null
  const uniqueFiles = new Set(files.map((f) => f.fileIndex)).size
  const multipleReplica = uniqueFiles !== files.length
  if (multipleReplica) {
    if (jobType === 'H' || jobType === 'Y') {
      throw badRequest(
        'Can not request multiple replica job together with multihop or session reuse at the same time',
      )
    }
    if (uniqueFiles > 1) throw badRequest('Multiple replica jobs must only have one unique file')
  }
  if (jobType === 'Y' && (!sourceSe || !destSe)) {
    throw badRequest('Reuse jobs must only contain transfers for the same source ad destination storage')
  }
  if (multipleReplica) {
    jobType = 'R'
    if (!STRATEGIES.has(first.selectionStrategy)) {
      throw badRequest(`${first.selectionStrategy} algorithm is not supported by Scheduler`)
    }
    first.fileState = entryState
  } else if (params.multihop) {
    first.fileState = entryState
  }

  return {
    jobId,
    jobState: bringOnline ? 'STAGING' : 'SUBMITTED',
    jobType,
    reason: null,
    submitTime: new Date(Math.floor(ctx.now / 1000) * 1000),
    jobFinished: null,
    sourceSe,
    destSe,
    userDn: caller.userDn,
    credId: caller.delegationId,
    voName: vo,
    vomsCred: caller.vomsCred.join(' '),
    priority: params.priority,
    retry: params.retry,
    retryDelay: params.retryDelay,
    maxTimeInQueue:
      params.maxTimeInQueue === null ? null : Math.trunc(ctx.now / 1000 + params.maxTimeInQueue),
    verifyChecksum: verify[0]!,
    overwriteFlag: params.overwriteFlag,
    internalJobParams: params.internalJobParams,
    jobMetadata,
    destinationSpaceToken: params.destinationSpaceToken,
    sourceSpaceToken: params.sourceSpaceToken,
    bringOnline: params.bringOnline,
    copyPinLifetime: params.copyPinLifetime,
    archiveTimeout: params.archiveTimeout,
    dstFileReport: params.dstFileReport,
    cancelJob: false,
    submitHost: ctx.submitHost,
    sid,
    files,
  }
}
