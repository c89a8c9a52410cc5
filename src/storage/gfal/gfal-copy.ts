/**
 * `gfal-copy`: the fallback copy method for every pair of schemes no other method serves (srm, gsiftp, dcap,
 * …), one `gfal-copy` child per file (~70 ms of Python start-up each). gfal2 checks the source against the
 * record (`-K ADLER32:<value>`) and the destination against the source; the engine verifies the destination
 * again. The child is killed when its time is up (gfal-copy's own `-t` does not stop every plugin).
 */
import type { Endpoint } from '../../domain/endpoint.js'
import { normaliseAdler32 } from '../adler32.js'
import type { CopyContext, CopyMethod, CopyResult, CopyTask } from '../copy-method.js'
import { eachLimit } from '../each-limit.js'
import { type HttpClients, httpClients } from '../http/http-client.js'
import { HTTP_SCHEMES } from '../http/http-protocol.js'
import { StorageError } from '../protocol.js'
import { GFAL_ONLY_SCHEMES, gfalError, gfalProtocol, runGfal } from './gfal-protocol.js'

/** Schemes gfal2 has plugins for here (file, xrootd, http, mock; srm/gsiftp/dcap/sftp come with gfal2). */
const GFAL_SCHEMES: ReadonlySet<string> = new Set([
  'file',
  'root',
  'xroot',
  ...HTTP_SCHEMES,
  ...GFAL_ONLY_SCHEMES,
])

const ABORTED = 'TRANSFER [125] Transfer aborted'

export interface GfalCopyOptions {
  /** kills a gfal-copy after this long; default 10 minutes plus 1 s per MiB */
  timeoutMs?: (bytes: number) => number
  /** where TLS trust for https/davs ends comes from (X509_CERT_DIR of the child) */
  clients?: HttpClients
}

const defaultTimeout = (bytes: number): number => 600_000 + Math.ceil(bytes / 1_048_576) * 1000

/** The environment of one gfal-copy: the user's credentials and the CA directory of the HTTPS end. */
function copyEnv(task: CopyTask, ctx: CopyContext, clients: HttpClients): Record<string, string> {
  const env: Record<string, string> = { ...ctx.env }
  const caDir = [task.destination, task.source]
    .filter((e) => HTTP_SCHEMES.has(e.scheme))
    .map((e) => clients.caDirFor(e.url))
    .find((d) => d !== undefined)
  if (caDir) env.X509_CERT_DIR ??= caDir
  if (ctx.credentials?.proxyPath) env.X509_USER_PROXY = ctx.credentials.proxyPath
  // WLCG bearer token discovery, read by gfal2's HTTP plugin
  if (ctx.credentials?.token) env.BEARER_TOKEN = ctx.credentials.token
  return env
}

const isHttp = (e: Endpoint): boolean => HTTP_SCHEMES.has(e.scheme)

/** gfal-copy's arguments for one file. */
export function gfalCopyArgs(task: CopyTask): string[] {
  // -f: the engine has settled that the destination may be written; -p: make its directories
  const args = ['-f', '-p', '-K', `ADLER32:${normaliseAdler32(task.file.adler32)}`]
  if (isHttp(task.source) || isHttp(task.destination)) {
    // skip asking the storage for a macaroon (a 501 and ~0.4 s a file where there is none)
    args.push('-D', 'HTTP PLUGIN:RETRIEVE_BEARER_TOKEN=false')
  }
  // a site that refuses third-party copy is read and written through the agent
  if (
    isHttp(task.source) &&
    isHttp(task.destination) &&
    (task.source.tpc === false || task.destination.tpc === false)
  ) {
    args.push('--copy-mode', 'streamed')
  }
  args.push(task.source.url, task.destination.url)
  return args
}

/** The gfal-copy method with the given time limits. */
export function gfalCopyWith(opts: GfalCopyOptions = {}): CopyMethod {
  const timeoutOf = opts.timeoutMs ?? defaultTimeout
  const clients = opts.clients ?? httpClients

  async function removeLeftover(task: CopyTask, env: Record<string, string>): Promise<void> {
    try {
      const r = await runGfal('gfal-rm', [task.destination.url], {
        env,
        scope: 'DESTINATION',
        timeoutMs: 60_000,
      })
      if (r.code !== 0 && r.code !== 2) throw gfalError('gfal-rm', r, 'DESTINATION')
    } catch (err) {
      // the file's failure is already decided; a leftover is overwritten by the next attempt (-f)
      process.emitWarning(
        `could not remove leftover destination ${task.destination.url}: ${(err as Error).message}`,
      )
    }
  }

  async function copyOne(task: CopyTask, ctx: CopyContext): Promise<CopyResult> {
    if (task.signal.aborted) return { ok: false, reason: ABORTED }
    const env = copyEnv(task, ctx, clients)
    try {
      const r = await runGfal('gfal-copy', gfalCopyArgs(task), {
        env,
        signal: task.signal,
        timeoutMs: timeoutOf(task.file.size),
        scope: 'TRANSFER',
      })
      if (r.code === 0) return { ok: true, bytes: task.file.size }
      const reason = gfalError('gfal-copy', r, 'TRANSFER').reason
      await removeLeftover(task, env)
      return { ok: false, reason }
    } catch (err) {
      await removeLeftover(task, env)
      if (task.signal.aborted) return { ok: false, reason: ABORTED }
      return {
        ok: false,
        reason: err instanceof StorageError ? err.reason : `TRANSFER [5] ${(err as Error).message}`,
      }
    }
  }

  return {
    name: 'gfal-copy',
    rank: 40,
    supports: (s, d) => GFAL_SCHEMES.has(s) && GFAL_SCHEMES.has(d) && !(s === 'file' && d === 'file'),
    async run(tasks, ctx, report) {
      await eachLimit(tasks, ctx.concurrency, async (task) => report(task, await copyOne(task, ctx)))
    },
  }
}

/** gfal-copy with the default limits. */
export const gfalCopy: CopyMethod = gfalCopyWith()

export { gfalProtocol }
