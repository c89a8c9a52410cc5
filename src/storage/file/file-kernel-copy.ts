import { copyFile, type FileHandle, open } from 'node:fs/promises'
import type { IHasher } from 'hash-wasm'
import type { CopyTask } from '../copy-method.js'
import { fsError } from './file-protocol.js'

/**
 * From this size on a file:// copy is made by the kernel (`copyFile`: copy_file_range), not by reads and
 * writes through Node: measured on this project's machines, 1 GiB took 0.9-2.7 s that way against 3.4-4.7 s
 * through userland writes. Smaller files keep the pump: a kernel copy cannot be stopped half-way, and for
 * them the syscalls saved are few.
 */
export const KERNEL_COPY_MIN_BYTES = 64 << 20

const CHUNK = 4 << 20

/**
 * Copies `src` onto `part` (created by the caller) in the kernel while hashing the destination as it grows:
 * bytes below the file's size are written, so the hash is of what is in the destination, read back, and it
 * overlaps the copy. Returns the bytes hashed. An abort takes effect once the kernel copy returns (it cannot
 * be interrupted); the caller then removes the part file.
 */
export async function kernelCopy(
  src: string,
  part: string,
  task: CopyTask,
  hasher: IHasher,
): Promise<number> {
  let copyEnded = false
  let copyError: unknown
  const copy = copyFile(src, part).then(
    () => {
      copyEnded = true
    },
    (e: unknown) => {
      copyEnded = true
      copyError = e
    },
  )
  const reader = await open(part, 'r').catch(async (e) => {
    await copy
    throw fsError(e, 'DESTINATION', `open ${part}`)
  })
  try {
    const hashed = await follow(reader, copy, () => copyEnded, task, hasher, part)
    if (copyError) throw fsError(copyError, 'DESTINATION', `copy into ${part}`)
    return hashed
  } finally {
    await copy
    await reader.close()
  }
}

/** Hashes what the copy has written so far, again and again, until the copy has ended and all is read. */
async function follow(
  reader: FileHandle,
  copy: Promise<void>,
  ended: () => boolean,
  task: CopyTask,
  hasher: IHasher,
  part: string,
): Promise<number> {
  const buf = Buffer.allocUnsafe(CHUNK)
  let offset = 0
  for (;;) {
    // asked before the read: a copy that had ended before it left nothing past what the read returns
    const wasEnded = ended()
    if (!wasEnded) task.signal.throwIfAborted()
    const { bytesRead } = await reader.read(buf, 0, CHUNK, offset).catch((e) => {
      throw fsError(e, 'DESTINATION', `read back ${part}`)
    })
    if (bytesRead > 0) {
      hasher.update(buf.subarray(0, bytesRead))
      offset += bytesRead
      continue
    }
    if (wasEnded) break
    await Promise.race([copy, new Promise((r) => setTimeout(r, 5))])
  }
  task.signal.throwIfAborted()
  return offset
}

/** adler32 of a whole file, read from the start (a second opinion after a mismatch). */
export async function hashFile(
  file: string,
  hasher: IHasher,
  scope: 'SOURCE' | 'DESTINATION',
): Promise<string> {
  hasher.init()
  const fh = await open(file, 'r').catch((e) => {
    throw fsError(e, scope, `open ${file}`)
  })
  try {
    const buf = Buffer.allocUnsafe(CHUNK)
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, null).catch((e) => {
        throw fsError(e, scope, `read ${file}`)
      })
      if (bytesRead === 0) return hasher.digest('hex')
      hasher.update(buf.subarray(0, bytesRead))
    }
  } finally {
    await fh.close()
  }
}
