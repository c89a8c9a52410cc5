import { randomBytes } from 'node:crypto'
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import type { IHasher } from 'hash-wasm'
import { acquireAdler32, releaseAdler32 } from '../adler32.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../copy-method.js'
import { StorageError } from '../protocol.js'
import { mismatch } from '../verify.js'
import { hashFile, KERNEL_COPY_MIN_BYTES, kernelCopy } from './file-kernel-copy.js'
import { filePath, fsError, writeAll } from './file-protocol.js'

const CHUNK = 4 << 20

/**
 * Moves the bytes: reads chunk n+1 while chunk n is hashed and written (three rotating buffers, one write
 * in flight), so reading, hashing and writing overlap. Returns the bytes copied.
 */
async function pump(
  input: FileHandle,
  output: FileHandle,
  task: CopyTask,
  hasher: IHasher,
  src: string,
  part: string,
): Promise<number> {
  // a small file needs small buffers: 4 MiB buffers per 10 KiB file would be all the work
  const size = Math.min(CHUNK, Math.max(64 * 1024, task.file.size + 1))
  const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)]
  const readAt = (i: number) =>
    input.read(buffers[i % 3]!, 0, size, null).catch((e) => {
      throw fsError(e, 'SOURCE', `read ${src}`)
    })
  let writing: Promise<unknown> = Promise.resolve()
  let reading = readAt(0)
  let bytes = 0
  try {
    for (let i = 0; ; i++) {
      task.signal.throwIfAborted()
      const { bytesRead } = await reading
      if (bytesRead === 0) break
      // buffer i+1 was last written at i-2, and that write ended before write i-1 began
      reading = readAt(i + 1)
      const chunk = buffers[i % 3]!.subarray(0, bytesRead)
      hasher.update(chunk)
      await writing
      writing = writeAll(output, chunk).catch((e) => {
        throw fsError(e, 'DESTINATION', `write ${part}`)
      })
      bytes += bytesRead
    }
    await writing
  } finally {
    // on an abort or an error, let the read and write in flight end before the files are closed; their
    // own errors are already reported (or superseded by the one being thrown)
    await Promise.allSettled([reading, writing])
  }
  return bytes
}

/**
 * Where a copy is written before it is verified and renamed into place: a name of its own per run, created
 * exclusively, so two writers (should fencing ever fail) can never share one file.
 */
export function partPath(destination: string): string {
  return path.join(
    path.dirname(destination),
    `.${path.basename(destination)}.${randomBytes(4).toString('hex')}.aso-part`,
  )
}

/** Removes the part files earlier runs of a destination left behind (a crashed agent's, say). */
export async function removePartFiles(destination: string): Promise<void> {
  const dir = path.dirname(destination)
  const prefix = `.${path.basename(destination)}.`
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    // no directory: no leftovers
    return
  }
  for (const n of names) {
    if (n.startsWith(prefix) && n.endsWith('.aso-part')) await rm(path.join(dir, n), { force: true })
  }
}

/**
 * Streams the source to a temporary name next to the destination, computing adler32 of the bytes on the
 * way (a large file: copied by the kernel, adler32 of the destination read back as it grows), fsyncs,
 * compares size and adler32 with the record, and only then renames into place.
 */
async function copyOne(task: CopyTask): Promise<CopyResult> {
  const src = filePath(task.source.url)
  const dst = filePath(task.destination.url)
  const part = partPath(dst)
  const { size: expectedSize, adler32: expected } = task.file
  const hasher = await acquireAdler32()
  let written = false
  try {
    const input = await open(src, 'r').catch((e) => {
      throw fsError(e, 'SOURCE', `open ${src}`)
    })
    try {
      await mkdir(path.dirname(dst), { recursive: true }).catch((e) => {
        throw fsError(e, 'DESTINATION', `mkdir ${path.dirname(dst)}`)
      })
      // a retry or a resumed run owns the destination now: what earlier runs left is garbage
      if (task.file.ownsDestination) await removePartFiles(dst)
      const output = await open(part, 'wx', 0o644).catch((e) => {
        throw fsError(e, 'DESTINATION', `create ${part}`)
      })
      written = true
      const kernel = expectedSize >= KERNEL_COPY_MIN_BYTES
      let bytes = 0
      try {
        bytes = kernel
          ? await kernelCopy(src, part, task, hasher)
          : await pump(input, output, task, hasher, src, part)
        await output.sync().catch((e) => {
          throw fsError(e, 'DESTINATION', `fsync ${part}`)
        })
        // what is on disk, not what we meant to write
        const onDisk = (await output.stat()).size
        if (onDisk !== bytes) {
          throw mismatch.destinationSize(bytes, onDisk)
        }
      } finally {
        await output.close()
      }
      let actual = hasher.digest('hex')
      // the kernel copy's hash was of the destination read while it grew: on a mismatch, ask the source and
      // the whole destination again before blaming either
      if (kernel && actual !== expected && (await hashFile(src, hasher, 'SOURCE')) === expected) {
        actual = await hashFile(part, hasher, 'DESTINATION')
        if (actual !== expected) {
          throw mismatch.transferChecksum(expected, actual)
        }
      }
      if (bytes !== expectedSize) {
        throw mismatch.sourceSize(expectedSize, bytes, '; the temporary file is not what the job wrote')
      }
      if (actual !== expected) {
        throw mismatch.sourceChecksum(expected, actual)
      }
      await rename(part, dst).catch((e) => {
        throw fsError(e, 'DESTINATION', `rename into ${dst}`)
      })
      written = false
      return { ok: true, bytes, verified: { size: bytes, adler32: actual } }
    } finally {
      await input.close()
    }
  } catch (e) {
    if (task.signal.aborted) return { ok: false, reason: 'TRANSFER [125] Transfer aborted' }
    if (e instanceof StorageError) return { ok: false, reason: e.reason }
    return { ok: false, reason: `TRANSFER [5] ${(e as Error).message}` }
  } finally {
    releaseAdler32(hasher)
    // never leave a partial copy behind (invariant 10)
    // best effort: a failure to remove the part file must not hide the copy's own outcome
    if (written) await rm(part, { force: true }).catch(() => undefined)
  }
}

/** Local file to local file: the embedded default and the way `aso demo` moves bytes. */
export const fileCopy: CopyMethod = {
  name: 'file-copy',
  rank: 5,
  supports: (s, d) => s === 'file' && d === 'file',
  async run(tasks: CopyTask[], ctx: CopyContext, report) {
    let next = 0
    const worker = async () => {
      while (next < tasks.length) {
        const task = tasks[next++]!
        report(task, await copyOne(task))
      }
    }
    await Promise.all(Array.from({ length: Math.max(1, Math.min(ctx.concurrency, tasks.length)) }, worker))
  },
}
