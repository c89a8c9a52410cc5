import { mkdir, open, rename, rm } from 'node:fs/promises'
import path from 'node:path'
import { acquireAdler32, releaseAdler32 } from './adler32.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from './copy-method.js'
import { filePath, fsError } from './file-protocol.js'
import { StorageError } from './protocol.js'

const CHUNK = 4 << 20

/** Where a copy is written before it is verified and renamed into place; the same for every attempt. */
export function partPath(destination: string): string {
  return path.join(path.dirname(destination), `.${path.basename(destination)}.aso-part`)
}

/**
 * Streams the source to a temporary name next to the destination, computing adler32 of the bytes on the
 * way, fsyncs, compares size and adler32 with the record, and only then renames into place.
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
      const output = await open(part, 'w', 0o644).catch((e) => {
        throw fsError(e, 'DESTINATION', `create ${part}`)
      })
      written = true
      let bytes = 0
      try {
        let current = Buffer.allocUnsafe(CHUNK)
        let spare = Buffer.allocUnsafe(CHUNK)
        let pending = input.read(current, 0, CHUNK, null)
        for (;;) {
          task.signal.throwIfAborted()
          const { bytesRead } = await pending.catch((e) => {
            throw fsError(e, 'SOURCE', `read ${src}`)
          })
          if (bytesRead === 0) break
          const chunk = current.subarray(0, bytesRead)
          // read the next chunk while this one is hashed and written
          ;[current, spare] = [spare, current]
          pending = input.read(current, 0, CHUNK, null)
          hasher.update(chunk)
          await output.write(chunk, 0, bytesRead).catch((e) => {
            throw fsError(e, 'DESTINATION', `write ${part}`)
          })
          bytes += bytesRead
        }
        await output.sync().catch((e) => {
          throw fsError(e, 'DESTINATION', `fsync ${part}`)
        })
      } finally {
        await output.close()
      }
      const actual = hasher.digest('hex')
      if (bytes !== expectedSize) {
        throw new StorageError(
          'SOURCE',
          5,
          `Source and user-defined size do not match (${expectedSize} != ${bytes}); the temporary file is not what the job wrote`,
        )
      }
      if (actual !== expected) {
        throw new StorageError(
          'SOURCE',
          5,
          `Source and user-defined ADLER32 checksum do not match (${expected} != ${actual})`,
        )
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
