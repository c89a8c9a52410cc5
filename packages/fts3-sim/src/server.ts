/**
 * The FTS3 test double: a stand-in for fts-rest-flask 3.13 plus the FTS daemon behind it, moving real
 * bytes with the built-in engine's copy methods (docs/fts3-rest.md is the behaviour it must show).
 */
import { constants } from 'node:crypto'
import { parseCert } from 'aso/credentials'
import { StorageRegistry, xrootMethods } from 'aso/storage'
import Fastify, { type FastifyInstance } from 'fastify'
import { createAuthenticator } from './auth.js'
import { BanList } from './ban-list.js'
import { certificateCaller, fqansFor } from './caller.js'
import { CredentialFiles } from './credential-files.js'
import { DelegationStore, type StoredCredential } from './delegation-store.js'
import { FaultPlan, type Fts3SimFaults } from './faults.js'
import { FtsHttpError } from './http-errors.js'
import type { SimJob } from './job-model.js'
import { JobStore } from './job-store.js'
import { type Fts3SimOptions, isLoopback, parseListen, pemText, submitHostName } from './options.js'
import { sendError } from './replies.js'
import { RouteTable } from './route-table.js'
import { registerArchiveRoutes } from './routes/archive.js'
import { registerBanRoutes } from './routes/bans.js'
import { registerDelegationRoutes } from './routes/delegation.js'
import { registerIdentityRoutes } from './routes/identity.js'
import { registerJobCancelRoutes } from './routes/job-cancel.js'
import { registerJobStatusRoutes } from './routes/job-status.js'
import { registerJobSubmitRoutes } from './routes/job-submit.js'
import { registerServerStatusRoutes } from './routes/server-status.js'
import { TransferScheduler } from './scheduler.js'
import type { SimContext } from './sim-context.js'
import { type CompletionPublisher, startStompPublisher } from './stomp-publisher.js'
import { UrlCopy } from './url-copy.js'

/** A job as the double holds it (every file's state, attempts, retries, reasons), and where it is. */
export type Fts3SimJob = SimJob & { archived: boolean }

export interface Fts3Sim {
  /** `https://host:port` or `http://host:port` */
  url: string
  jobs(): Fts3SimJob[]
  delegations(): StoredCredential[]
  faults: Fts3SimFaults
  /** completion messages not yet handed to the broker */
  pendingMessages(): number
  close(): Promise<void>
}

const YEAR_MS = 365 * 24 * 3600_000

export async function startFts3Sim(opts: Fts3SimOptions = {}): Promise<Fts3Sim> {
  const listen = parseListen(opts.listen ?? '127.0.0.1:0')
  if (opts.insecureDn !== undefined && opts.tls)
    throw new Error('insecureDn is for plain HTTP: drop the TLS options')
  if (!opts.tls && !isLoopback(listen.host)) {
    throw new Error(
      `plain HTTP only on loopback; listen on 127.0.0.1 or give TLS options (got ${listen.host})`,
    )
  }
  const tls = opts.tls
    ? { cert: await pemText(opts.tls.cert), key: await pemText(opts.tls.key), caDir: opts.tls.caDir }
    : undefined
  const submitHost = submitHostName()
  const store = new JobStore(opts.archiveAfterMs)
  const delegations = new DelegationStore()
  const faults = new FaultPlan()
  const files = await CredentialFiles.create()
  const publisher: CompletionPublisher | undefined = opts.stomp ? startStompPublisher(opts.stomp) : undefined
  const baseEnv = opts.env ?? {}
  const scheduler = new TransferScheduler(store, {
    maxActive: opts.maxActive ?? 4,
    serverRetry: opts.serverRetry ?? 0,
    defaultRetryDelayMs: opts.defaultRetryDelayMs ?? 120_000,
    intervalMs: opts.schedulerIntervalMs ?? 100,
    submitHost,
    alias: opts.stomp?.alias ?? submitHost,
    urlCopy: new UrlCopy(opts.storage ?? new StorageRegistry(), opts.methods ?? xrootMethods()),
    async envFor(job) {
      const credential = delegations.find(job.credId ?? '', job.userDn)
      if (!credential?.proxyPem) return baseEnv
      return { ...baseEnv, X509_USER_PROXY: await files.pathOf(credential) }
    },
    publish: publisher ? (message, vo) => publisher.publish(message, vo) : undefined,
  })
  const hostDn = tls ? parseCert(tls.cert).subject : undefined
  const authenticator = await createAuthenticator({
    caDir: tls?.caDir,
    insecureDn: opts.insecureDn,
    tokens: opts.tokens,
    vomsByDn: opts.vomsByDn,
    vo: opts.vo,
    hostDn,
  })
  if (opts.insecureDn !== undefined) {
    const me = certificateCaller({
      dn: opts.insecureDn,
      fqans: fqansFor(opts.insecureDn, opts.vomsByDn, opts.vo),
    })
    delegations.grant({
      delegationId: me.delegationId ?? '',
      dn: me.userDn,
      proxyPem: '',
      vomsAttrs: me.vomsCred.join(' '),
      terminationTime: new Date(Date.now() + YEAR_MS),
    })
  }

  const app: FastifyInstance = Fastify({
    logger: false,
    bodyLimit: 64 * 1024 * 1024,
    forceCloseConnections: true,
    // bulk status asks for up to 100 job ids in one path segment (Rucio's batch): find-my-way's default is 100
    // chars. The official client sends every request to `//whoami`, `//jobs`…: the real server serves `//x` as `/x`
    routerOptions: { maxParamLength: 8192, ignoreDuplicateSlashes: true },
    ...(tls
      ? {
          https: {
            cert: tls.cert,
            key: tls.key,
            requestCert: true,
            // proxies fail OpenSSL's own check: the double verifies the chain itself (verifyPeer)
            rejectUnauthorized: false,
            // a resumed session carries no client chain
            secureOptions: constants.SSL_OP_NO_TICKET,
          },
        }
      : {}),
  })
  const routes = new RouteTable(app)
  const ctx: SimContext = {
    store,
    delegations,
    bans: new BanList(),
    scheduler,
    faults,
    routes,
    submitHost,
    callers: new WeakMap(),
  }

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body))
  app.addHook('onRequest', async (request, reply) => {
    const path = request.url.split('?')[0] ?? '/'
    const fault = faults.take(request.method, request.routeOptions.url, path)
    if (fault?.kind === 'unavailable')
      return sendError(reply, new FtsHttpError(503, undefined, { html: true }))
    if (fault?.kind === 'internal-error') return sendError(reply, new FtsHttpError(500))
    if (fault?.kind === 'delay') await new Promise((resolve) => setTimeout(resolve, fault.ms))
    try {
      const caller = await authenticator.identify(request)
      if (ctx.bans.isDnBanned(caller.userDn)) {
        throw new FtsHttpError(403, 'The user has been banned', { html: true })
      }
      ctx.callers.set(request, caller)
    } catch (err) {
      return sendError(reply, err)
    }
  })
  app.setErrorHandler((err, _request, reply) => {
    const status = (err as { statusCode?: number }).statusCode
    if (err instanceof FtsHttpError || status === undefined || status >= 500) return sendError(reply, err)
    // Fastify's own refusals (body too large, bad URL): werkzeug would give the same code
    return sendError(reply, new FtsHttpError(status, (err as Error).message))
  })
  app.setNotFoundHandler((request, reply) => {
    const allowed = routes.allowedMethods(request.url.split('?')[0] ?? '/')
    if (allowed.length === 0) return sendError(reply, new FtsHttpError(404))
    if (request.method === 'OPTIONS') return reply.code(200).header('Allow', allowed.join(', ')).send()
    return sendError(reply, new FtsHttpError(405, undefined, { headers: { Allow: allowed.join(', ') } }))
  })
  registerIdentityRoutes(ctx)
  registerDelegationRoutes(ctx)
  registerJobSubmitRoutes(ctx)
  registerJobStatusRoutes(ctx)
  registerJobCancelRoutes(ctx)
  registerArchiveRoutes(ctx)
  registerBanRoutes(ctx)
  registerServerStatusRoutes(ctx)

  await app.listen({ host: listen.host, port: listen.port })
  const address = app.server.address()
  const port = typeof address === 'object' && address ? address.port : listen.port
  const hostInUrl = listen.host.includes(':') ? `[${listen.host}]` : listen.host
  scheduler.start()

  return {
    url: `${tls ? 'https' : 'http'}://${hostInUrl}:${port}`,
    jobs: () => [
      ...store.liveJobs().map((j) => ({ ...structuredClone(j), archived: false })),
      ...store.archivedJobs().map((j) => ({ ...structuredClone(j), archived: true })),
    ],
    delegations: () => delegations.all(),
    faults,
    pendingMessages: () => publisher?.pending() ?? 0,
    async close() {
      await scheduler.close()
      await app.close()
      store.close()
      await publisher?.close()
      await files.remove()
    },
  }
}
