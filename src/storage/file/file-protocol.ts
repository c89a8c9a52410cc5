import { type FileHandle, open, rm, stat, statfs } from 'node:fs/promises'
import path from 'node:path'
import { acquireAdler32, releaseAdler32 } from '../adler32.js'
import {
  type FreeSpace,
  type ProtocolHandler,
  type StatResult,
  StorageError,
  type StorageOptions,
} from '../protocol.js'

/** The local path of a file:// URL. */
export function filePath(url: string): string {
  if (!url.startsWith('file://')) throw new Error(`not a file:// URL: ${url}`)
  return url.slice('file://'.length)
}

/** Maps a Node filesystem error to an FTS-style storage error for one end of a transfer. */
export function fsError(
  e: unknown,
  scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER',
  what: string,
): StorageError {
  const err = e as NodeJS.ErrnoException
  const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : 5
  const text: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EPERM: 'Operation not permitted',
    ENOSPC: 'No space left on device',
    EDQUOT: 'Disk quota exceeded',
    EEXIST: 'File exists',
    ENOTDIR: 'Not a directory',
    EISDIR: 'Is a directory',
    EROFS: 'Read-only file system',
  }
  const message = (err.code && text[err.code]) ?? err.message ?? String(e)
  return new StorageError(scope, errno, `${message} (${what})`)
}

/**
 * Writes the whole chunk: a write may take fewer bytes than asked (a disk filling up takes what fits), and
 * the next write then says why (ENOSPC, EDQUOT), instead of the copy coming up short as if corrupt.
 */
export async function writeAll(output: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length; ) {
    const { bytesWritten } = await output.write(chunk, offset, chunk.length - offset)
    if (bytesWritten === 0) {
      throw Object.assign(new Error('the write made no progress'), { errno: 5 })
    }
    offset += bytesWritten
  }
}

const CHUNK = 4 << 20

/**
 * Free bytes of the filesystem holding a file:// directory, as an unprivileged writer sees them (`bavail`).
 * A directory not made yet is answered for its nearest existing parent: a user's area is created by their
 * first file, on the same filesystem.
 */
export async function fileFreeSpace(
  url: string,
  scope: StorageError['scope'] = 'TRANSFER',
): Promise<FreeSpace> {
  let dir = path.resolve(filePath(url))
  for (;;) {
    try {
      const s = await statfs(dir)
      return { bytes: Number(s.bavail) * Number(s.bsize), source: 'statfs', url: `file://${dir}` }
    } catch (e) {
      const parent = path.dirname(dir)
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir)
        throw fsError(e, scope, `statfs ${dir}`)
      dir = parent
    }
  }
}

export const fileProtocol: ProtocolHandler = {
  schemes: ['file'],

  async stat(url: string, opts?: StorageOptions): Promise<StatResult | null> {
    try {
      const s = await stat(filePath(url))
      return { size: s.size, isDirectory: s.isDirectory() }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw fsError(e, opts?.scope ?? 'TRANSFER', `stat ${filePath(url)}`)
    }
  },

  async adler32(url: string, opts?: StorageOptions): Promise<string> {
    const path = filePath(url)
    const hasher = await acquireAdler32()
    try {
      const fh = await open(path, 'r')
      try {
        const buf = Buffer.allocUnsafe(CHUNK)
        for (;;) {
          opts?.signal?.throwIfAborted()
          const { bytesRead } = await fh.read(buf, 0, CHUNK, null)
          if (bytesRead === 0) break
          hasher.update(buf.subarray(0, bytesRead))
        }
      } finally {
        await fh.close()
      }
      return hasher.digest('hex')
    } catch (e) {
      if (e instanceof StorageError || (e as Error).name === 'AbortError') throw e
      throw fsError(e, opts?.scope ?? 'TRANSFER', `checksum of ${path}`)
    } finally {
      releaseAdler32(hasher)
    }
  },

  async remove(url: string, opts?: StorageOptions): Promise<void> {
    try {
      await rm(filePath(url), { force: true })
    } catch (e) {
      throw fsError(e, opts?.scope ?? 'TRANSFER', `remove ${filePath(url)}`)
    }
  },

  freeSpace: (url, opts) => fileFreeSpace(url, opts?.scope),
}
