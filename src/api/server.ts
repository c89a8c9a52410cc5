/**
 * The HTTP API of `aso serve`: Fastify with one plugin per resource under `/api/v1` (all authenticated),
 * `/health` and `/metrics` at the root, and the OpenAPI document. HTTPS with client certificates (proxies
 * verified in our code), or plain HTTP on loopback with `--insecure-dev`.
 */
import { constants } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify'
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod'
import type { Logger } from 'pino'
import type { AsoConfig } from '../config/schema.js'
import { AsoError } from '../domain/errors.js'
import type { SiteCatalog } from '../sites/catalog.js'
import type { Store } from '../store/store.js'
import { createAuthenticator } from './auth/authenticate.js'
import { ChangeSignal } from './change-signal.js'
import {
  answerBusyConnections,
  limitConnections,
  limitLongLivedRequests,
  StreamLimiter,
} from './connection-limits.js'
import type { AgentHandle, ApiContext } from './context.js'
import { dashboardRoutes } from './dashboard.js'
import { installErrorHandler } from './errors.js'
import { eventRoutes } from './events.js'
import { healthMetricRoutes } from './health-metrics.js'
import { acceptJsonBodiesOnly } from './json-body.js'
import { linkUserRoutes } from './links-users.js'
import { loginOptionRoutes } from './login-options.js'
import { registerOpenApi } from './openapi.js'
import { operatorSettingRoutes } from './operator-settings.js'
import { publicationRoutes } from './publication.js'
import { limitRequestRate } from './rate-limit.js'
import { logRequests } from './request-log.js'
import { refuseCrossSiteChanges } from './same-origin.js'
import { addSecurityHeaders } from './security-headers.js'
import { taskListRoutes } from './task-list.js'
import { taskRoutes } from './tasks.js'
import { transferRoutes } from './transfers.js'
import { findWebRoot, webUiRoutes } from './web-ui.js'

export const API_VERSION = '1.0.0'
export const API_PREFIX = '/api/v1'

export interface ApiServerOptions {
  config: AsoConfig
  store: Store
  sites: SiteCatalog
  /** plain HTTP on loopback, identity from the X-ASO-User header (one-machine trials) */
  insecureDev?: boolean
  /** HOST:PORT; default `api.listen` */
  listen?: string
  /** the agent of this process, if it runs one */
  agent?: AgentHandle
  changes?: ChangeSignal
  log?: Logger
  /** how often streams and long-polls look at the store when nothing wakes them (default 250 ms) */
  pollMs?: number
  /** the dashboard's clock (default Date.now) */
  now?: () => number
  /** the built dashboard to serve at `/` (default: dist/web when it was built; null: none) */
  webRoot?: string | null
}

export interface ApiServer {
  app: FastifyInstance
  /** e.g. https://127.0.0.1:8443 */
  url: string
  close(): Promise<void>
}

/** `127.0.0.1:8443`, `[::1]:8443`, `localhost:0` → host and port. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(listen)
  const port = Number(m?.[3])
  if (!m || port > 65_535) {
    throw new AsoError('usage', `--listen ${listen}: write HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443`)
  }
  return { host: (m[1] ?? m[2])!, port }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (e) {
    throw new AsoError('invalid-config', `api.tls.${what}: cannot read ${path}: ${(e as Error).message}`)
  }
}

/** Builds the app (not listening): `app.inject()` can drive it directly. */
export async function buildApiServer(opts: ApiServerOptions): Promise<FastifyInstance> {
  const { config } = opts
  const tls = config.api.tls
  const limits = config.api.limits
  // how often Node looks for requests past requestTimeout (its default, 30 s, would stretch a short limit)
  const checking = {
    connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.requestTimeout / 4))),
  }
  if (!opts.insecureDev && !tls) {
    throw new AsoError(
      'invalid-config',
      'the API needs api.tls (cert, key, caDir) in aso.yaml; for a trial on this machine only, use aso serve --insecure-dev',
    )
  }
  const app = Fastify({
    ...(opts.log ? { loggerInstance: opts.log as FastifyBaseLogger } : { logger: false }),
    // Fastify's two lines per request, with the query, are off: request-log.ts writes one, without polls
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    bodyLimit: limits.bodyBytes,
    ...(!opts.insecureDev && tls
      ? {
          https: {
            cert: await readPem(tls.cert, 'cert'),
            key: await readPem(tls.key, 'key'),
            // proxies fail OpenSSL's own check: ask for the chain, never reject it here, verify it ourselves
            requestCert: true,
            rejectUnauthorized: false,
            // a resumed TLS session carries no client chain: no tickets, every connection presents it
            secureOptions: constants.SSL_OP_NO_TICKET,
            handshakeTimeout: limits.handshakeTimeout,
            ...checking,
          },
        }
      : { http: checking }),
  })
  app.setValidatorCompiler(validatorCompiler)
  app.setSerializerCompiler(serializerCompiler)
  limitConnections(app.server, limits)
  answerBusyConnections(app, limits)
  // only JSON bodies (a form or text/plain post is 415) from our own pages or non-browser clients (else 403)
  acceptJsonBodiesOnly(app, { depth: limits.jsonDepth, keys: limits.jsonKeys })
  refuseCrossSiteChanges(app)
  addSecurityHeaders(app)
  installErrorHandler(app)
  logRequests(app)
  await registerOpenApi(app, API_VERSION)

  const ctx: ApiContext = {
    config,
    store: opts.store,
    sites: opts.sites,
    changes: opts.changes ?? new ChangeSignal(),
    pollMs: opts.pollMs ?? 250,
    now: opts.now ?? Date.now,
    ...(opts.agent ? { agent: opts.agent } : {}),
  }
  const auth = await createAuthenticator(
    config,
    opts.insecureDev ? { insecureDev: true } : { tls: { caDir: tls!.caDir } },
  )
  app.decorateRequest('caller', null)
  const streams = new StreamLimiter(limits)
  await app.register(
    async (v1) => {
      v1.addHook('onRequest', async (request) => {
        request.caller = await auth.authenticate(request)
      })
      await limitRequestRate(v1, limits)
      limitLongLivedRequests(v1, streams)
      await v1.register(transferRoutes, ctx)
      await v1.register(taskRoutes, ctx)
      await v1.register(publicationRoutes, ctx)
      await v1.register(eventRoutes, ctx)
      await v1.register(linkUserRoutes, ctx)
      await v1.register(dashboardRoutes, ctx)
      await v1.register(taskListRoutes, ctx)
      await v1.register(operatorSettingRoutes, ctx)
    },
    { prefix: API_PREFIX },
  )
  await app.register(healthMetricRoutes, ctx)
  await app.register(loginOptionRoutes, { config, insecureDev: opts.insecureDev === true })
  await app.register(webUiRoutes, { root: opts.webRoot === undefined ? findWebRoot() : opts.webRoot })
  return app
}

/** Where the API may listen: HOST:PORT, and only loopback for plain HTTP (`--insecure-dev`). */
export function checkListen(listen: string, insecureDev: boolean): { host: string; port: number } {
  const { host, port } = parseListen(listen)
  if (insecureDev && !isLoopback(host)) {
    throw new AsoError(
      'usage',
      `--insecure-dev serves plain HTTP without authentication, so only on loopback: listen on 127.0.0.1 or [::1], not ${host}`,
    )
  }
  return { host, port }
}

/** Builds the app and listens; plain HTTP only on loopback. */
export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const { host, port } = checkListen(opts.listen ?? opts.config.api.listen, opts.insecureDev === true)
  const app = await buildApiServer(opts)
  try {
    await app.listen({ host, port })
  } catch (e) {
    await app.close()
    throw new AsoError('usage', `cannot listen on ${host}:${port}: ${(e as Error).message}`)
  }
  const address = app.server.address()
  const bound = typeof address === 'object' && address ? address.port : port
  const shownHost = host.includes(':') ? `[${host}]` : host
  return {
    app,
    url: `${opts.insecureDev ? 'http' : 'https'}://${shownHost}:${bound}`,
    close: () => app.close(),
  }
}
