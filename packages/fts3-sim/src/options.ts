/** How the FTS3 double is started: where it listens, who it trusts, how it runs copies and where it reports. */
import { readFile } from 'node:fs/promises'
import os from 'node:os'
import type { CopyMethod, StorageRegistry } from 'aso/storage'
import type { StompTarget } from './stomp-publisher.js'
import type { TokenOptions } from './token-verifier.js'

export interface Fts3SimOptions {
  /** `host:port` (port 0: a free one); default `127.0.0.1:0` */
  listen?: string
  /**
   * HTTPS with client certificates (requested, verified against `caDir` by the double itself so that
   * RFC 3820 proxies pass); `cert` and `key` are PEM text or file paths
   */
  tls?: { cert: string; key: string; caDir: string }
  /** plain HTTP on loopback, every request is this DN holding a valid delegation (one-machine trials) */
  insecureDn?: string
  /** bearer tokens: known issuers with their JWKS files, accepted audience(s), required FTS scope */
  tokens?: TokenOptions
  /** certificate users without an entry in `vomsByDn` hold `/<vo>/Role=NULL/Capability=NULL` */
  vo?: string
  /** VOMS FQANs per user DN: they change the delegation id and the VO, as a VOMS proxy does */
  vomsByDn?: Record<string, string[]>
  /** files ACTIVE at once over all jobs (default 4) */
  maxActive?: number
  /** finished jobs move to `/archive/{id}` after this long (default: never) */
  archiveAfterMs?: number
  /**
   * publish completion messages to a STOMP broker: `stomp://` or `stomp+ssl://` (TLS: `caDir`, optional
   * client `cert`/`key`), login by `username` and `passwordFile`; `alias` is the messages' `endpnt`
   */
  stomp?: StompTarget & { alias?: string }
  /** environment for the copy tools (XRD_*, X509_CERT_DIR, ...) */
  env?: Record<string, string>
  /** copy methods to choose from by their `supports()` (default: the built-in engine's xrdcp methods) */
  methods?: CopyMethod[]
  /** storage operations (stat, adler32, remove) per scheme (default: file and root) */
  storage?: StorageRegistry
  /** the server's default `retry` for jobs that ask for 0 (t_server_config; FTS ships 0) */
  serverRetry?: number
  /** the delay of a retry when the job's `retry_delay` is 0 (default 120 s, as FTS) */
  defaultRetryDelayMs?: number
  /** how often the scheduler looks at the queue (default 100 ms) */
  schedulerIntervalMs?: number
}

export interface ResolvedListen {
  host: string
  port: number
}

/** `127.0.0.1:8446`, `[::1]:0`, `localhost:8446`. */
export function parseListen(listen: string): ResolvedListen {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(listen.trim())
  if (!m) throw new Error(`listen must be host:port, got "${listen}"`)
  return { host: m[1] ?? m[2]!, port: Number(m[3]) }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

/** PEM text as given, or the content of the file it names. */
export async function pemText(value: string): Promise<string> {
  return value.includes('-----BEGIN') ? value : readFile(value, 'utf8')
}

export function submitHostName(): string {
  return os.hostname()
}
