import type { Endpoint } from '../domain/endpoint.js'
import { removePartFiles } from './file/file-copy.js'
import { filePath, fileProtocol } from './file/file-protocol.js'
import { gfalProtocol } from './gfal/gfal-protocol.js'
import { httpProtocol } from './http/http-protocol.js'
import { type FreeSpace, type ProtocolHandler, StorageError, type StorageOptions } from './protocol.js'
import { parseRootUrl, rootProtocol } from './xroot/root-protocol.js'
import { removeRootLeftoversOf } from './xroot/xroot-leftovers.js'

/** The storage operations of every scheme the agent can reach itself (the cleaner, the killer, the engine). */
export class StorageRegistry {
  private readonly handlers = new Map<string, ProtocolHandler>()

  constructor(
    handlers: readonly ProtocolHandler[] = [fileProtocol, rootProtocol, httpProtocol, gfalProtocol],
  ) {
    for (const h of handlers) for (const s of h.schemes) this.handlers.set(s, h)
  }

  add(handler: ProtocolHandler): void {
    for (const s of handler.schemes) this.handlers.set(s, handler)
  }

  handlerFor(url: string, scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER' = 'TRANSFER'): ProtocolHandler {
    const scheme = url.slice(0, url.indexOf(':'))
    const h = this.handlers.get(scheme)
    if (!h) throw new StorageError(scope, 93, `no storage client for scheme "${scheme}" (${url})`)
    return h
  }

  supports(scheme: string): boolean {
    return this.handlers.has(scheme)
  }

  /** The first endpoint (in the site's order) this agent can operate on. */
  pick(endpoints: readonly Endpoint[]): Endpoint | undefined {
    return endpoints.find((e) => this.handlers.has(e.scheme))
  }

  stat(url: string, opts?: StorageOptions) {
    return this.handlerFor(url, opts?.scope).stat(url, opts)
  }

  adler32(url: string, opts?: StorageOptions) {
    return this.handlerFor(url, opts?.scope).adler32(url, opts)
  }

  remove(url: string, opts?: StorageOptions) {
    return this.handlerFor(url, opts?.scope).remove(url, opts)
  }

  /** Free bytes under a directory as its storage says; null where the scheme or the server cannot say. */
  async freeSpace(url: string, opts?: StorageOptions): Promise<FreeSpace | null> {
    const h = this.handlerFor(url, opts?.scope)
    return h.freeSpace ? h.freeSpace(url, opts) : null
  }

  /**
   * Removes what an unfinished attempt may have left at a destination: the file and its temporary copies
   * (`.NAME.*.aso-part` files; on root://, also its name in batches' `.aso-part-*` directories, and those
   * directories once empty).
   */
  async removeAttemptLeftovers(destinations: readonly Endpoint[]): Promise<void> {
    for (const d of destinations) {
      if (!this.handlers.has(d.scheme)) continue
      await this.remove(d.url, { scope: 'DESTINATION' })
      if (d.scheme === 'file') await removePartFiles(filePath(d.url))
      else if (this.handlers.get(d.scheme) === rootProtocol) {
        await removeRootLeftoversOf(parseRootUrl(d.url, 'DESTINATION'))
      }
    }
  }
}
