/**
 * The completion message url-copy publishes for every attempt (docs/fts3-rest.md §5; fts3 msg-ifce
 * SendTransferFinishMessage and LegacyReporter::sendTransferCompleted).
 */
import { parseReason } from 'aso/domain/failures'
import type { SimFile, SimJob } from './job-model.js'
import type { UrlCopyResult } from './url-copy.js'
import { parseUrl } from './wire-format.js'

/** glibc's strerror texts; url-copy's error category is this, upper-cased, spaces as underscores. */
const STRERROR: Record<number, string> = {
  1: 'Operation not permitted',
  2: 'No such file or directory',
  5: 'Input/output error',
  7: 'Argument list too long',
  13: 'Permission denied',
  14: 'Bad address',
  17: 'File exists',
  20: 'Not a directory',
  21: 'Is a directory',
  22: 'Invalid argument',
  27: 'File too large',
  28: 'No space left on device',
  30: 'Read-only file system',
  36: 'File name too long',
  39: 'Directory not empty',
  70: 'Communication error on send',
  93: 'Protocol not supported',
  95: 'Operation not supported',
  110: 'Connection timed out',
  111: 'Connection refused',
  112: 'Host is down',
  113: 'No route to host',
  122: 'Disk quota exceeded',
  125: 'Operation canceled',
}

export function errorCategory(errno: number): string {
  return (STRERROR[errno] ?? `Unknown error ${errno}`).replaceAll(' ', '_').toUpperCase()
}

/** What msg-ifce does to the error text: no quotes, no newlines, printable ASCII, at most 1024 characters. */
export function cleanErrorMessage(message: string): string {
  return message
    .replace(/[^\x20-\x7f]/g, ' ')
    .replace(/['"\n]/g, '')
    .slice(0, 1024)
}

export interface CompletionContext {
  job: SimJob
  file: SimFile
  result: UrlCopyResult
  /** the url-copy run was aborted (file canceled) */
  aborted: boolean
  /** the file's retry count when the attempt ran, and the job's maximum */
  retry: number
  retryMax: number
  recoverable: boolean
  startedAt: number
  finishedAt: number
  /** the FTS alias the publisher writes into `endpnt` */
  alias: string
}

const two = (n: number): string => String(n).padStart(2, '0')

function transferId(ctx: CompletionContext, srcHost: string, dstHost: string): string {
  const d = new Date(ctx.startedAt)
  const stamp = `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}-${two(d.getUTCHours())}${two(d.getUTCMinutes())}`
  return `${stamp}__${srcHost}__${dstHost}__${ctx.file.fileId}__${ctx.job.jobId}`
}

function jobStateFor(ctx: CompletionContext, ok: boolean): string {
  const { job, file } = ctx
  if (job.jobType === 'R') {
    if (ok) return 'FINISHED'
    const another = job.files.some(
      (f) => f !== file && f.fileIndex === file.fileIndex && f.fileState === 'NOT_USED',
    )
    return another ? 'ACTIVE' : 'FAILED'
  }
  if (job.jobType === 'H') {
    if (!ok) return 'FAILED'
    return job.files.at(-1) === file ? 'FINISHED' : 'ACTIVE'
  }
  return 'UNKNOWN'
}

/** The message body (a JSON object; the publisher appends the terminator). */
export function completionMessage(ctx: CompletionContext): Record<string, unknown> {
  const { job, file, result } = ctx
  const src = parseUrl(file.sourceSurl)
  const dst = parseUrl(file.destSurl)
  const ok = result.ok && !ctx.aborted
  const parsed = ok ? null : parseReason(ctx.aborted ? 'TRANSFER [125] Transfer canceled' : result.reason)
  const errno = parsed?.errno ?? (ok ? 0 : 5)
  const size = result.filesize ?? 0
  const transferMs = result.transferEnd > 0 ? result.transferEnd - result.transferStart : 0
  return {
    tr_id: transferId(ctx, src.hostname, dst.hostname),
    job_id: job.jobId,
    file_id: file.fileId,
    endpnt: ctx.alias,
    src_srm_v: '',
    dest_srm_v: '',
    vo: job.voName,
    src_url: file.sourceSurl,
    dst_url: file.destSurl,
    src_hostname: src.hostname,
    dst_hostname: dst.hostname,
    src_se: file.sourceSe,
    dst_se: file.destSe,
    protocol: dst.scheme || src.scheme,
    src_site_name: '',
    dst_site_name: '',
    t_channel: `${file.sourceSe}__${file.destSe}`,
    timestamp_tr_st: result.transferStart,
    timestamp_tr_comp: result.transferEnd,
    t_timeout: 600 + Math.ceil((2 * size) / 1_048_576),
    chk_timeout: 0,
    t_error_code: errno,
    tr_error_scope: parsed?.scope ?? '',
    t_failure_phase: ok ? '' : ctx.aborted ? 'TRANSFER' : result.phase,
    tr_error_category: ok ? '' : errorCategory(errno),
    t_final_transfer_state: ok ? 'Ok' : ctx.aborted ? 'Abort' : 'Error',
    t_final_transfer_state_flag: ok ? 1 : 0,
    tr_bt_transfered: ok ? size : 0,
    nstreams: 1,
    buf_size: 0,
    tcp_buf_size: 0,
    block_size: 0,
    scitag: file.scitag ?? 0,
    f_size: size,
    file_size: size,
    srm_space_token_src: job.sourceSpaceToken,
    srm_space_token_dst: job.destinationSpaceToken,
    t__error_message: parsed ? cleanErrorMessage(parsed.message) : '',
    tr_timestamp_start: ctx.startedAt,
    tr_timestamp_complete: ctx.finishedAt,
    transfer_time: transferMs,
    operation_time: ctx.finishedAt - ctx.startedAt,
    throughput: transferMs > 0 ? size / (transferMs / 1000) : -1,
    channel_type: 'urlcopy',
    user_dn: job.userDn,
    file_metadata: file.fileMetadata,
    job_metadata: job.jobMetadata,
    activity: file.activity,
    retry: ok ? 0 : ctx.retry,
    retry_max: ok ? 0 : ctx.retryMax,
    job_m_replica: job.jobType === 'R',
    job_multihop: job.jobType === 'H',
    transfer_lasthop: job.jobType === 'H' && job.files.at(-1) === file,
    is_archiving: false,
    job_state: jobStateFor(ctx, ok),
    is_recoverable: ok ? false : ctx.recoverable,
    ipv6: false,
    ipver: 'ipv4',
    eviction_code: -1,
    cleanup_code: 0,
    final_destination: '',
    transfer_type: result.method ?? '',
    auth_method: job.jobMetadata.auth_method ?? 'certificate',
    overwrite_on_disk_flag: false,
    overwrite_on_disk_deletion_code: -1,
  }
}
