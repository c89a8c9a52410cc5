/**
 * `http-stream`: a copy through the agent, GET (or a local file) streamed into PUT (or a local file), with
 * adler32 computed on the way (ARCHITECTURE.md section 7). Used where an end cannot do third-party copy, and
 * for file<->https. The bytes are checked against the record before the file is accepted.
 */

import { createReadStream } from 'node:fs'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import path from 'node:path'
import { Readable } from 'node:stream'
import type { IHasher } from 'hash-wasm'
import { acquireAdler32, normaliseAdler32, releaseAdler32 } from '../adler32.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { partPath, removePartFiles } from '../file/file-copy.js'
import { filePath, fsError, writeAll } from '../file/file-protocol.js'
import { StorageError, type StorageOptions } from '../protocol.js'
import { mismatch } from '../verify.js'
import {
  bodyText,
  HTTP_SCHEMES,
  type HttpProtocolHandler,
  httpFailure,
  httpProtocol,
} from './http-protocol.js'

type Scope = 'SOURCE' | 'DESTINATION' | 'TRANSFER'

export const ABORTED = 'TRANSFER [125] Transfer aborted'

/** One end of a streamed copy; a local destination is written to `part` first. */
type End = { kind: 'http'; url: string } | { kind: 'file'; path: string; part: string }

function endOf(url: string, scheme: string): End {
  if (HTTP_SCHEMES.has(scheme)) return { kind: 'http', url }
  const local = filePath(url)
  return { kind: 'file', path: local, part: partPath(local) }
}

/** What a stream of the source's bytes saw. */
interface Tally {
  bytes: number
  hasher: IHasher
  /** set when reading the source failed (so the failure is the source's, not the writer's) */
  sourceError?: StorageError
}

function reasonOf(err: unknown, scope: Scope): string {
  if (err instanceof StorageError) return err.reason
  return `${scope} [5] ${(err as Error).message}`
}

/** The source's bytes, hashed and counted on the way. */
async function* tallied(
  source: AsyncIterable<Buffer>,
  tally: Tally,
  signal: AbortSignal,
  label: string,
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of source) {
      signal.throwIfAborted()
      tally.hasher.update(chunk)
      tally.bytes += chunk.length
      yield chunk
    }
  } catch (err) {
    if (!signal.aborted)
      tally.sourceError = new StorageError('SOURCE', 5, `reading ${label}: ${(err as Error).message}`)
    throw err
  }
}

/** A streamed copier on a WebDAV handler. */
export function httpStreamFor(handler: HttpProtocolHandler): CopyMethod {
  const clients = handler.clients

  /** Opens the source: its size and its bytes. */
  async function openSource(
    src: End,
    o: StorageOptions & { signal: AbortSignal },
  ): Promise<{ size: number; bytes: AsyncIterable<Buffer>; close: () => void }> {
    if (src.kind === 'file') {
      const st = await stat(src.path).catch((e) => {
        throw fsError(e, 'SOURCE', `stat ${src.path}`)
      })
      const stream = createReadStream(src.path, { highWaterMark: 1 << 20 })
      stream.on('error', () => undefined) // reported through the iteration
      return { size: st.size, bytes: stream, close: () => stream.destroy() }
    }
    const res = await clients.send(src.url, { method: 'GET', ...o, scope: 'SOURCE' })
    if (res.statusCode !== 200) throw httpFailure('SOURCE', res, await bodyText(res), `GET ${src.url}`)
    const length = res.headers['content-length']
    return {
      size: length === undefined ? -1 : Number(length),
      bytes: res.body as AsyncIterable<Buffer>,
      close: () => res.body.destroy(),
    }
  }

  async function removeDestination(dst: End, o: StorageOptions): Promise<void> {
    try {
      if (dst.kind === 'file') await rm(dst.part, { force: true })
      else await handler.remove(dst.url, { scope: 'DESTINATION', credentials: o.credentials })
    } catch (err) {
      // the file's failure is already decided; what cannot be removed now is overwritten by the next
      // attempt, and the engine's recovery removes it (invariant 10)
      process.emitWarning(`could not remove a partial copy at the destination: ${(err as Error).message}`)
    }
  }

  /** Writes the stream to a local file: a part file, fsynced, renamed into place by the caller. */
  async function writeFile(dst: { path: string; part: string }, bytes: AsyncIterable<Buffer>): Promise<void> {
    await mkdir(path.dirname(dst.path), { recursive: true }).catch((e) => {
      throw fsError(e, 'DESTINATION', `mkdir ${path.dirname(dst.path)}`)
    })
    const part = dst.part
    // this attempt owns the destination now: part files earlier runs left are garbage
    await removePartFiles(dst.path)
    const out = await open(part, 'wx', 0o644).catch((e) => {
      throw fsError(e, 'DESTINATION', `create ${part}`)
    })
    try {
      for await (const chunk of bytes) {
        await writeAll(out, chunk).catch((e) => {
          throw fsError(e, 'DESTINATION', `write ${part}`)
        })
      }
      await out.sync()
    } finally {
      await out.close()
    }
  }

  async function put(dst: { url: string }, bytes: AsyncIterable<Buffer>, o: StorageOptions) {
    const res = await clients.send(dst.url, {
      method: 'PUT',
      // chunked, no Content-Length: XrdHttp 5.5 reads that header case-sensitively and undici sends it in
      // lower case, so the server would store 0 bytes and answer 200 (the size check would catch it)
      body: Readable.from(bytes, { objectMode: false }),
      signal: o.signal,
      credentials: o.credentials,
      scope: 'DESTINATION',
    })
    const body = await bodyText(res)
    if (res.statusCode >= 300) throw httpFailure('DESTINATION', res, body, `PUT ${dst.url}`)
  }

  async function copyOne(
    task: CopyTask,
    ctx: CopyContext,
    made: Map<string, Promise<void>>,
  ): Promise<CopyResult> {
    if (task.signal.aborted) return { ok: false, reason: ABORTED }
    const o = { signal: task.signal, credentials: ctx.credentials }
    let src: End
    let dst: End
    try {
      src = endOf(task.source.url, task.source.scheme)
      dst = endOf(task.destination.url, task.destination.scheme)
    } catch (err) {
      return { ok: false, reason: reasonOf(err, 'TRANSFER') }
    }
    const record = { size: task.file.size, adler32: normaliseAdler32(task.file.adler32) }
    const tally: Tally = { bytes: 0, hasher: await acquireAdler32() }
    let touched = false
    let source: Awaited<ReturnType<typeof openSource>> | undefined
    try {
      if (dst.kind === 'http') await handler.makeParent(dst.url, { ...o, scope: 'DESTINATION' }, made)
      source = await openSource(src, o)
      if (source.size >= 0 && source.size !== record.size) {
        return { ok: false, reason: mismatch.sourceSize(record.size, source.size).reason }
      }
      const bytes = tallied(source.bytes, tally, task.signal, task.source.url)
      touched = true
      if (dst.kind === 'file') await writeFile(dst, bytes)
      else await put(dst, bytes, o)

      const actual = tally.hasher.digest('hex')
      if (tally.bytes !== record.size) throw mismatch.sourceSize(record.size, tally.bytes)
      if (actual !== record.adler32) {
        throw mismatch.sourceChecksum(record.adler32, actual)
      }
      if (dst.kind === 'file') {
        await rename(dst.part, dst.path).catch((e) => {
          throw fsError(e, 'DESTINATION', `rename into ${dst.path}`)
        })
        touched = false
        return { ok: true, bytes: tally.bytes, verified: { size: tally.bytes, adler32: actual } }
      }
      touched = false
      const at = await handler.sizeAndDigest(
        dst.url,
        { scope: 'DESTINATION', credentials: ctx.credentials },
        record.size,
      )
      if (at && at.size === record.size && at.adler32 === record.adler32) {
        return { ok: true, bytes: at.size, verified: { size: at.size, adler32: at.adler32 } }
      }
      // no Digest from this server: the engine checks the destination its own way
      if (at && at.size === record.size && at.adler32 === null) return { ok: true, bytes: at.size }
      await removeDestination(dst, o)
      return {
        ok: false,
        reason: !at
          ? 'TRANSFER [5] Destination missing after the PUT'
          : at.size !== record.size
            ? mismatch.destinationSize(record.size, at.size).reason
            : mismatch.transferChecksum(record.adler32, at.adler32).reason,
      }
    } catch (err) {
      if (touched) await removeDestination(dst, o)
      if (task.signal.aborted) return { ok: false, reason: ABORTED }
      return { ok: false, reason: tally.sourceError?.reason ?? reasonOf(err, 'TRANSFER') }
    } finally {
      source?.close()
      releaseAdler32(tally.hasher)
    }
  }

  return {
    name: 'http-stream',
    rank: 30,
    supports(s, d) {
      return (
        (HTTP_SCHEMES.has(s) || s === 'file') &&
        (HTTP_SCHEMES.has(d) || d === 'file') &&
        !(s === 'file' && d === 'file')
      )
    },
    async run(tasks, ctx, report) {
      const made = new Map<string, Promise<void>>()
      await eachLimit(tasks, ctx.concurrency, async (task) => report(task, await copyOne(task, ctx, made)))
    },
  }
}

/** The streamed copier on the shared HTTP clients. */
export const httpStream: CopyMethod = httpStreamFor(httpProtocol)
