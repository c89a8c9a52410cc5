/**
 * In-memory `mock://` storage for the FTS3 double: files are (size, adler32) entries, a copy is instant. With
 * it the double measures and tests ASO and the HTTP between them, not storage. Faults are planted per URL.
 */
import type { CopyMethod, CopyResult } from '../../src/storage/copy-method.js'
import { type ProtocolHandler, StorageError } from '../../src/storage/protocol.js'
import { StorageRegistry } from '../../src/storage/registry.js'

export interface MockFile {
  size: number
  adler32: string
}

export class MockStorage {
  readonly files = new Map<string, MockFile>()
  /** destination URLs whose copy fails with this reason (e.g. `DESTINATION [13] Permission denied`) */
  readonly failCopy = new Map<string, string>()
  /** copies take this long (ms), e.g. to keep files ACTIVE while a test cancels them */
  copyDelayMs = 0
  copies = 0

  put(url: string, size: number, adler32: string): void {
    this.files.set(url, { size, adler32 })
  }

  readonly handler: ProtocolHandler = {
    schemes: ['mock'],
    stat: async (url) => {
      const f = this.files.get(url)
      return f ? { size: f.size, isDirectory: false } : null
    },
    adler32: async (url, opts) => {
      const f = this.files.get(url)
      if (!f) throw new StorageError(opts?.scope ?? 'SOURCE', 2, `No such file or directory: ${url}`)
      return f.adler32
    },
    remove: async (url) => {
      this.files.delete(url)
    },
  }

  readonly method: CopyMethod = {
    name: 'mock-copy',
    rank: 1,
    thirdParty: true,
    supports: (s, d) => s === 'mock' && d === 'mock',
    run: async (tasks, _ctx, report) => {
      for (const t of tasks) {
        if (this.copyDelayMs > 0) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, this.copyDelayMs)
            t.signal.addEventListener('abort', () => {
              clearTimeout(timer)
              resolve()
            })
          })
        }
        this.copies++
        const src = this.files.get(t.source.url)
        let result: CopyResult
        if (t.signal.aborted) result = { ok: false, reason: 'TRANSFER [125] Transfer aborted' }
        else if (this.failCopy.has(t.destination.url))
          result = { ok: false, reason: this.failCopy.get(t.destination.url)! }
        else if (!src) result = { ok: false, reason: `SOURCE [2] No such file or directory: ${t.source.url}` }
        else {
          this.files.set(t.destination.url, { ...src })
          result = { ok: true, bytes: src.size }
        }
        report(t, result)
      }
    },
  }

  /** Storage clients of the double: only mock://. */
  registry(): StorageRegistry {
    return new StorageRegistry([this.handler])
  }
}
