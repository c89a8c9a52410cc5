/**
 * Routes registered with their patterns kept, so that an unknown method on a known URL is werkzeug's 405
 * with an `Allow` header (and OPTIONS answers with it), not a 404.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

export type Handler = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>

export class RouteTable {
  private readonly routes: { method: string; pattern: RegExp }[] = []

  constructor(private readonly app: FastifyInstance) {}

  add(method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, handler: Handler): void {
    this.app.route({ method, url, handler })
    const pattern = new RegExp(`^${url.replace(/:[A-Za-z]+/g, '[^/]+')}$`)
    this.routes.push({ method, pattern })
  }

  /** The methods a path answers to, as werkzeug lists them (GET brings HEAD; OPTIONS always). */
  allowedMethods(path: string): string[] {
    const methods = new Set(this.routes.filter((r) => r.pattern.test(path)).map((r) => r.method))
    if (methods.size === 0) return []
    if (methods.has('GET')) methods.add('HEAD')
    methods.add('OPTIONS')
    return [...methods].sort()
  }
}
