/**
 * `http-tpc`: HTTP third-party copy with WebDAV `COPY` (docs/storage-notes.md §2), the fastest way between two
 * HTTPS storages (~18 ms a small file, no polling floor). Pull mode first (the destination fetches the `Source`),
 * push mode (`Destination`) when the destination has no TPC handler, a streamed copy when neither end has one.
 * The COPY answer is 201 even when the copy failed: its body's last line says `success:` or `failure:`; a
 * failed COPY leaves a 0-byte file behind, removed here. Each file is decided by its destination's size and
 * adler32 (HEAD with `Want-Digest`), never by the COPY answer alone.
 */

import { normaliseAdler32 } from '../adler32.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { StorageError } from '../protocol.js'
import { mismatch } from '../verify.js'
import { toHttpUrl } from './http-client.js'
import {
  bodyLine,
  bodyText,
  HTTP_SCHEMES,
  type HttpProtocolHandler,
  httpErrno,
  httpFailure,
  httpProtocol,
} from './http-protocol.js'
import { ABORTED, httpStream } from './http-stream.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'
type Mode = 'pull' | 'push'

/** How one COPY request ended. */
type CopyAnswer =
  | { kind: 'success' }
  | { kind: 'unsupported'; why: string }
  /** `started`: the server accepted the COPY, so a file may be left at the destination */
  | { kind: 'failed'; reason: string; started: boolean }

function reasonOf(err: unknown, scope: Scope): string {
  if (err instanceof StorageError) return err.reason
  return `${scope} [5] ${(err as Error).message}`
}

/** The last non-empty line of a COPY body (Perf Marker blocks, then `success: …` or `failure: …`). */
export function lastLine(body: string): string {
  const lines = body.split('\n').map((l) => l.trim())
  for (let i = lines.length - 1; i >= 0; i--) if (lines[i] !== '') return lines[i]!
  return ''
}

/**
 * `SCOPE [errno] message` for a COPY's `failure:` line. "Remote side" is the end the COPY target talked to (the
 * source in pull mode); network trouble is the transfer's; anything else happened at the COPY target.
 */
export function copyFailureReason(line: string, mode: Mode): string {
  const text = line.replace(/^failure:\s*/i, '')
  const target: Scope = mode === 'pull' ? 'DESTINATION' : 'SOURCE'
  const remote: Scope = mode === 'pull' ? 'SOURCE' : 'DESTINATION'
  const status = /status code (\d{3})/i.exec(text)
  let scope: Scope = target
  let errno: number
  if (/remote side/i.test(text)) {
    scope = remote
    errno = httpErrno(Number(status?.[1] ?? 0), text)
  } else if (/couldn't connect|could not connect|connection refused/i.test(text)) {
    scope = 'TRANSFER'
    errno = 111
  } else if (/resolve|SSL|timed? ?out|connection|curl/i.test(text)) {
    scope = 'TRANSFER'
    errno = httpErrno(0, text)
  } else {
    errno = httpErrno(Number(status?.[1] ?? 0), text)
  }
  return `${scope} [${errno}] HTTP-TPC ${mode} COPY failed: ${text}`
}

/** A COPY the server does not do at all: no TPC handler (XrdHttp: `400 Request unknown`), or not allowed. */
function isUnsupported(status: number, body: string): boolean {
  if (status === 405 || status === 501) return true
  return status === 400 && /request unknown|not (supported|implemented)/i.test(body)
}

/** The headers that let the remote end of a COPY be read (pull) or written (push) for the user. */
function transferHeaders(ctx: CopyContext): Record<string, string> {
  const token = ctx.credentials?.token
  // without a token the remote leg is anonymous; X.509 delegation (gridsite) is not offered
  return token ? { TransferHeaderAuthorization: `Bearer ${token}` } : { Credential: 'none' }
}

/** An HTTP-TPC copier on a WebDAV handler, falling back to `stream` where no end can copy. */
export function httpTpcFor(handler: HttpProtocolHandler, stream: CopyMethod): CopyMethod {
  const clients = handler.clients

  async function copyRequest(task: CopyTask, ctx: CopyContext, mode: Mode): Promise<CopyAnswer> {
    const src = toHttpUrl(task.source.url)
    const dst = toHttpUrl(task.destination.url)
    const [target, other, scope] =
      mode === 'pull' ? [dst, src, 'DESTINATION' as const] : [src, dst, 'SOURCE' as const]
    const res = await clients.send(target, {
      method: 'COPY',
      headers: {
        [mode === 'pull' ? 'Source' : 'Destination']: other,
        Overwrite: 'T',
        ...transferHeaders(ctx),
      },
      signal: task.signal,
      credentials: ctx.credentials,
      scope,
    })
    const body = await bodyText(res)
    if (isUnsupported(res.statusCode, body))
      return { kind: 'unsupported', why: `${res.statusCode} ${bodyLine(body)}` }
    if (res.statusCode >= 300) {
      return { kind: 'failed', reason: httpFailure(scope, res, body, `${mode} COPY`).reason, started: false }
    }
    const last = lastLine(body)
    if (/^success:/i.test(last)) return { kind: 'success' }
    if (/^failure:/i.test(last))
      return { kind: 'failed', reason: copyFailureReason(last, mode), started: true }
    return {
      kind: 'failed',
      reason: `TRANSFER [5] HTTP-TPC ${mode} COPY ended without a success line (HTTP ${res.statusCode}): ${last}`,
      started: true,
    }
  }

  async function removeLeftover(task: CopyTask, ctx: CopyContext): Promise<void> {
    try {
      await handler.remove(task.destination.url, { scope: 'DESTINATION', credentials: ctx.credentials })
    } catch (err) {
      // the file's failure is already decided; a leftover that cannot be removed now is overwritten by the
      // next attempt, and the engine's recovery removes it (invariant 10)
      process.emitWarning(
        `could not remove leftover destination ${task.destination.url}: ${(err as Error).message}`,
      )
    }
  }

  /** Compares the destination (and, on a mismatch, the source) with the record. */
  async function verify(task: CopyTask, ctx: CopyContext): Promise<CopyResult> {
    const record = { size: task.file.size, adler32: normaliseAdler32(task.file.adler32) }
    const o = { credentials: ctx.credentials }
    const at = await handler.sizeAndDigest(task.destination.url, { ...o, scope: 'DESTINATION' }, record.size)
    if (!at) return { ok: false, reason: 'TRANSFER [5] Destination missing after a successful COPY' }
    if (at.size === record.size && at.adler32 === record.adler32) {
      return { ok: true, bytes: at.size, verified: { size: at.size, adler32: at.adler32 } }
    }
    // a server without Digest: the engine checks the destination its own way
    if (at.size === record.size && at.adler32 === null) return { ok: true, bytes: at.size }
    await removeLeftover(task, ctx)
    const source = await handler
      .sizeAndDigest(task.source.url, { ...o, scope: 'SOURCE' }, record.size)
      .catch(() => null)
    if (source && source.size !== record.size) {
      return {
        ok: false,
        reason: mismatch.sourceSize(record.size, source.size).reason,
      }
    }
    if (source?.adler32 && source.adler32 !== record.adler32) {
      return {
        ok: false,
        reason: mismatch.sourceChecksum(record.adler32, source.adler32).reason,
      }
    }
    if (at.size !== record.size) {
      return {
        ok: false,
        reason: mismatch.destinationSize(record.size, at.size).reason,
      }
    }
    return {
      ok: false,
      reason: mismatch.transferChecksum(record.adler32, at.adler32).reason,
    }
  }

  /** One file; `null` when neither end does COPY (the caller streams it instead). */
  async function copyOne(
    task: CopyTask,
    ctx: CopyContext,
    made: Map<string, Promise<void>>,
  ): Promise<CopyResult | null> {
    if (task.signal.aborted) return { ok: false, reason: ABORTED }
    let answer: CopyAnswer | undefined
    try {
      // COPY does not create the destination's directories
      await handler.makeParent(
        task.destination.url,
        { scope: 'DESTINATION', signal: task.signal, credentials: ctx.credentials },
        made,
      )
      answer = await copyRequest(task, ctx, 'pull')
      if (answer.kind === 'unsupported') answer = await copyRequest(task, ctx, 'push')
      if (answer.kind === 'unsupported') return null
      if (answer.kind === 'failed') {
        if (answer.started) await removeLeftover(task, ctx)
        return { ok: false, reason: answer.reason }
      }
      return await verify(task, ctx)
    } catch (err) {
      if (task.signal.aborted) {
        // the server may have begun writing: nothing partial stays
        await removeLeftover(task, ctx)
        return { ok: false, reason: ABORTED }
      }
      return { ok: false, reason: reasonOf(err, 'TRANSFER') }
    }
  }

  return {
    name: 'http-tpc',
    rank: 10,
    thirdParty: true,
    supports: (s, d) => HTTP_SCHEMES.has(s) && HTTP_SCHEMES.has(d),
    async run(tasks, ctx, report) {
      const made = new Map<string, Promise<void>>()
      const noTpc: CopyTask[] = []
      await eachLimit(tasks, ctx.concurrency, async (task) => {
        const result = await copyOne(task, ctx, made)
        if (result) report(task, result)
        else noTpc.push(task)
      })
      if (noTpc.length > 0) {
        await stream.run(noTpc, ctx, (task, result) =>
          report(task, { ...result, method: result.method ?? stream.name }),
        )
      }
    },
  }
}

/** HTTP third-party copy on the shared HTTP clients. */
export const httpTpc: CopyMethod = httpTpcFor(httpProtocol, httpStream)
