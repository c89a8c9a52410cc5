/**
 * The `params` of a submission (docs/fts3-rest.md §2 "Params", §7 "Echoes"): server defaults, the overwrite
 * flag rules, priority clamping, `max_time_in_queue` units, job metadata and `internal_job_params`.
 */
import type { AuthMethod } from './caller.js'
import { badRequest } from './http-errors.js'
import { PyTypeError, PyValueError, pyInt, pyTypeName, safeFlag, safeInt, truthy } from './python-values.js'
import { isDict } from './request-body.js'
import { pythonJsonLength } from './wire-format.js'

export const METADATA_SIZE_LIMIT = 1024

const DEFAULTS: Record<string, unknown> = {
  bring_online: -1,
  verify_checksum: false,
  copy_pin_lifetime: -1,
  archive_timeout: -1,
  job_metadata: null,
  overwrite: false,
  overwrite_on_retry: false,
  overwrite_hop: false,
  overwrite_when_only_on_disk: false,
  reuse: null,
  multihop: false,
  source_spacetoken: '',
  destination_spacetoken: '',
  retry: 0,
  retry_delay: 0,
  priority: 3,
  max_time_in_queue: 0,
  dst_file_report: false,
  id_generator: 'standard',
  sid: null,
}

export interface JobParams {
  /** as given: a boolean, or a string whose first letter becomes the mode */
  verifyChecksum: unknown
  overwriteFlag: 'Y' | 'R' | 'M' | 'D' | 'Q' | null
  reuse: boolean
  multihop: boolean
  retry: number
  retryDelay: number
  priority: number
  /** seconds, or null for no limit */
  maxTimeInQueue: number | null
  jobMetadata: Record<string, unknown>
  internalJobParams: string | null
  bringOnline: number
  copyPinLifetime: number
  archiveTimeout: number
  destinationSpaceToken: string
  sourceSpaceToken: string
  dstFileReport: boolean
  idGenerator: unknown
  sid: unknown
}

/** A metadata value as stored: objects as they are, anything else as `{"label": value}`; size-limited. */
export function metadataValue(data: unknown, hint: string): Record<string, unknown> {
  const value = isDict(data) ? data : { label: data }
  const size = pythonJsonLength(value)
  if (size > METADATA_SIZE_LIMIT) {
    throw badRequest(`${hint} exceeds size limit (${size} > ${METADATA_SIZE_LIMIT})`)
  }
  return value
}

/**
 * `staging_metadata` / `archive_metadata` (`require_dict`): an object, or a string holding one; anything
 * else is the server's ValueError. Size-limited like the other metadata.
 */
export function tapeMetadataValue(data: unknown, hint: string): Record<string, unknown> {
  let value = data
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value)
    } catch (err) {
      void err // not JSON: the same refusal as any other non-object
    }
  }
  if (!isDict(value)) throw new PyValueError(`${hint} not in JSON format`)
  return metadataValue(value, hint)
}

/** `max_time_in_queue` in seconds: a bare integer is hours; strings take s, m, h or d; anything else: none. */
export function queueSeconds(value: unknown): number | null {
  if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'boolean') {
    const n = Number(value)
    return n === 0 ? null : n * 3600
  }
  if (typeof value !== 'string' || value === '') return null
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[value.slice(-1).toLowerCase()]
  const amount = value.slice(0, -1)
  if (unit === undefined || !/^\s*[+-]?\d+\s*$/.test(amount)) return null
  return Number.parseInt(amount, 10) * unit
}

function overwriteFlag(p: Record<string, unknown>, multihop: boolean): JobParams['overwriteFlag'] {
  const y = safeFlag(p.overwrite)
  const r = safeFlag(p.overwrite_on_retry)
  const m = safeFlag(p.overwrite_hop)
  const d = safeFlag(p.overwrite_when_only_on_disk)
  const count = [y, r, m, d].filter(Boolean).length
  if (count > 1 && !(count === 2 && m && d)) {
    throw badRequest('Incompatible overwrite flags used at the same time')
  }
  if (d && safeInt(p.archive_timeout) <= 0) {
    throw badRequest("'overwrite-when-only-on-disk' requires 'archive-timeout' to be set")
  }
  const flag = y ? 'Y' : r ? 'R' : m && d ? 'Q' : m ? 'M' : d ? 'D' : null
  if ((flag === 'M' || flag === 'Q') && !multihop) {
    throw badRequest("'overwrite-hop' requires multihop job submission")
  }
  return flag
}

function internalJobParams(p: Record<string, unknown>): string | null {
  const list: string[] = []
  if (truthy(p.nostreams)) list.push(`nostreams:${pyInt(p.nostreams)}`)
  if (truthy(p.timeout)) list.push(`timeout:${pyInt(p.timeout)}`)
  if (truthy(p.buffer_size)) list.push(`buffersize:${pyInt(p.buffer_size)}`)
  if (truthy(p.strict_copy)) list.push('strict')
  if (truthy(p.disable_cleanup)) list.push('disable-cleanup')
  if (truthy(p.ipv4)) list.push('ipv4')
  else if (truthy(p.ipv6)) list.push('ipv6')
  if (truthy(p.s3alternate)) list.push('s3alternate')
  return list.length === 0 ? null : list.join(',')
}

/** The submitted `params` over the server defaults (`null` means default). */
export function mergedParams(submitted: unknown): Record<string, unknown> {
  if (submitted !== undefined && !isDict(submitted)) {
    throw new PyTypeError(`'${pyTypeName(submitted)}' object is not iterable`)
  }
  const p: Record<string, unknown> = { ...DEFAULTS }
  for (const [k, v] of Object.entries(submitted ?? {})) p[k] = v === null && k in DEFAULTS ? DEFAULTS[k] : v
  return p
}

/** `job_metadata` as stored: size-limited, then given `auth_method` by the server. */
export function jobMetadataOf(p: Record<string, unknown>, authMethod: AuthMethod): Record<string, unknown> {
  const meta = p.job_metadata === null ? {} : metadataValue(p.job_metadata, 'Job metadata')
  return { ...meta, auth_method: authMethod }
}

/** The job settings, checked in the server's order once the files are known to be there. */
export function jobParams(p: Record<string, unknown>): Omit<JobParams, 'jobMetadata'> {
  const multihop = truthy(p.multihop)
  const overwrite = overwriteFlag(p, multihop)
  return {
    verifyChecksum: p.verify_checksum,
    overwriteFlag: overwrite,
    reuse: safeFlag(p.reuse),
    multihop,
    retry: pyInt(p.retry),
    retryDelay: pyInt(p.retry_delay),
    priority: Math.max(Math.min(pyInt(p.priority), 5), 1),
    maxTimeInQueue: queueSeconds(p.max_time_in_queue),
    internalJobParams: internalJobParams(p),
    bringOnline: safeInt(p.bring_online),
    copyPinLifetime: safeInt(p.copy_pin_lifetime),
    archiveTimeout: safeInt(p.archive_timeout),
    destinationSpaceToken: String(p.destination_spacetoken ?? ''),
    sourceSpaceToken: String(p.source_spacetoken ?? ''),
    dstFileReport: safeFlag(p.dst_file_report),
    idGenerator: p.id_generator,
    sid: p.sid,
  }
}
