/**
 * The FTS3 double for tests: started over HTTPS with the test PKI's host certificate (clients present a
 * user certificate or a proxy chain), or insecure on loopback; a small HTTP client that keeps what the
 * server answered (status line, headers, raw body); and delegation as a user, with src/credentials.
 */
import http from 'node:http'
import https from 'node:https'
import type { Fts3SimOptions } from '../../packages/fts3-sim/src/options.js'
import { type Fts3Sim, startFts3Sim } from '../../packages/fts3-sim/src/server.js'
import { type ProxySigner, signProxyFromCsr } from '../../src/credentials/index.js'
import type { ProxyCert, TestPki, UserCert } from './pki.js'

export interface SimResponse {
  status: number
  statusMessage: string
  headers: Record<string, string | string[] | undefined>
  text: string
  /** the body parsed as JSON, or undefined when it is not JSON */
  json: unknown
}

export interface RequestOptions {
  /** a JSON value (sent as application/json unless `contentType` says otherwise) or raw text */
  body?: unknown
  contentType?: string | null
  headers?: Record<string, string>
  timeoutMs?: number
}

export interface SimClient {
  request(method: string, path: string, opts?: RequestOptions): Promise<SimResponse>
  get(path: string, opts?: RequestOptions): Promise<SimResponse>
}

/** What a TLS client presents: a user certificate, or a proxy chain with the proxy's key. */
export interface ClientCredential {
  certPem: string
  keyPem: string
}

export const asClient = (c: UserCert | ProxyCert): ClientCredential =>
  'chainPem' in c ? { certPem: c.chainPem, keyPem: c.keyPem } : { certPem: c.certPem, keyPem: c.keyPem }

/** A client of the double: over HTTPS with `credential` (or none), or plain HTTP. */
export function simClient(baseUrl: string, tls?: { ca: string; credential?: ClientCredential }): SimClient {
  const request = (method: string, path: string, opts: RequestOptions = {}): Promise<SimResponse> =>
    new Promise((resolve, reject) => {
      // appended, not resolved: `//whoami` is a path here (the official client's), not a protocol-relative URL
      const url = new URL(`${baseUrl.replace(/\/+$/, '')}${path}`)
      const headers: Record<string, string> = { ...opts.headers }
      let payload: string | undefined
      if (opts.body !== undefined) {
        payload = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
        const type = opts.contentType === undefined ? 'application/json' : opts.contentType
        if (type !== null) headers['content-type'] = type
      }
      const send = url.protocol === 'https:' ? https.request : http.request
      const req = send(
        url,
        {
          method,
          headers,
          agent: false,
          ...(tls ? { ca: tls.ca, cert: tls.credential?.certPem, key: tls.credential?.keyPem } : {}),
          timeout: opts.timeoutMs ?? 30_000,
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            let json: unknown
            try {
              json = JSON.parse(text)
            } catch {
              // not JSON (HTML error pages, CSRs, empty bodies): json stays undefined
              json = undefined
            }
            resolve({
              status: res.statusCode ?? 0,
              statusMessage: res.statusMessage ?? '',
              headers: res.headers,
              text,
              json,
            })
          })
          res.on('error', reject)
        },
      )
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)))
      req.on('error', reject)
      req.end(payload)
    })
  return { request, get: (path, opts) => request('GET', path, opts) }
}

export interface TlsSim {
  sim: Fts3Sim
  /** a client presenting `credential` (a user certificate or a proxy chain), or no certificate at all */
  client(credential?: UserCert | ProxyCert | ClientCredential): SimClient
}

/** The double over HTTPS with the test PKI's localhost certificate, trusting the PKI's CA directory. */
export async function startTlsSim(pki: TestPki, opts: Fts3SimOptions = {}): Promise<TlsSim> {
  const sim = await startFts3Sim({
    ...opts,
    tls: { cert: pki.host.certPem, key: pki.host.keyPem, caDir: pki.caDir },
    env: { X509_CERT_DIR: pki.caDir, ...opts.env },
  })
  return {
    sim,
    client: (credential) =>
      simClient(sim.url, {
        ca: pki.ca.certPem,
        credential:
          credential === undefined ? undefined : 'dn' in credential ? asClient(credential) : credential,
      }),
  }
}

/** The double on plain HTTP, every request being `dn` with a valid delegation. */
export async function startInsecureSim(
  dn: string,
  opts: Fts3SimOptions = {},
): Promise<{ sim: Fts3Sim; client: SimClient }> {
  const sim = await startFts3Sim({ ...opts, insecureDn: dn })
  return { sim, client: simClient(sim.url) }
}

/** The signer of a proxy: its key, with the user certificate as the rest of the chain. */
export function proxySigner(proxy: ProxyCert, user: UserCert): ProxySigner {
  return { certPem: proxy.certPem, keyPem: proxy.keyPem, chainPem: [user.certPem] }
}

/**
 * Delegates as the client's user (docs/fts3-rest.md §4): whoami, CSR, sign as an RFC 3820 proxy, PUT the
 * chain. Returns the delegation id; throws with the server's answer when a step fails.
 */
export async function delegate(
  client: SimClient,
  signer: ProxySigner,
  lifetimeMs = 12 * 3600_000,
): Promise<string> {
  const who = await client.get('/whoami')
  const dlg = (who.json as { delegation_id?: string }).delegation_id
  if (!dlg) throw new Error(`whoami gave no delegation id: ${who.status} ${who.text}`)
  const csr = await client.get(`/delegation/${dlg}/request`)
  if (csr.status !== 200) throw new Error(`delegation request: ${csr.status} ${csr.text}`)
  const chain = signProxyFromCsr(csr.text, signer, lifetimeMs)
  const put = await client.request('PUT', `/delegation/${dlg}/credential`, {
    body: chain,
    contentType: 'application/x-pem-file',
  })
  if (put.status !== 201) throw new Error(`delegation credential: ${put.status} ${put.text}`)
  return dlg
}

/** Polls the double's own view until `done` holds for the job (default 30 s). */
export async function waitForJob(
  sim: Fts3Sim,
  jobId: string,
  done: (job: ReturnType<Fts3Sim['jobs']>[number]) => boolean,
  timeoutMs = 30_000,
): Promise<ReturnType<Fts3Sim['jobs']>[number]> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const job = sim.jobs().find((j) => j.jobId === jobId)
    if (job && done(job)) return job
    if (Date.now() > deadline) {
      throw new Error(
        `job ${jobId} did not get there in ${timeoutMs} ms: ${JSON.stringify(job?.files.map((f) => [f.fileState, f.reason]))}`,
      )
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}
