/**
 * The web dashboard at `/`: the Vite build in dist/web (built by `npm run build`), served as static files, with
 * client-side routes (/tasks/…, /files/…) answered by index.html. It talks only to the API; the API's routes and
 * its JSON 404 for unknown API paths are untouched.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import fastifyStatic from '@fastify/static'
import type { FastifyPluginAsync } from 'fastify'

/** Paths that belong to the API: never answered with the dashboard's page. */
const API_PATHS = /^\/(?:api(?:\/|$)|health$|metrics$)/

/** dist/web next to the compiled server (dist/api), or, when run from the sources, the built one in dist/. */
export function findWebRoot(): string | null {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const candidates = [path.resolve(here, '../web'), path.resolve(here, '../../dist/web')]
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? null
}

export const webUiRoutes: FastifyPluginAsync<{ root: string | null }> = async (app, { root }) => {
  if (root === null) {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(
          'the dashboard is not built: run `npm run build` (it builds dist/web), then restart aso serve\n',
        ),
    )
    return
  }
  // every file of the build gets its own route (no wildcard): the wildcard below is free for the page's routes
  await app.register(fastifyStatic, { root, wildcard: false, index: ['index.html'] })
  app.get('/*', { schema: { hide: true } }, async (request, reply) => {
    const pathname = request.url.split('?')[0] ?? '/'
    if (API_PATHS.test(pathname)) return reply.callNotFound()
    // the page's own routes; a fresh index.html each time, so a new build is picked up on reload
    return reply.header('cache-control', 'no-cache').sendFile('index.html')
  })
}
