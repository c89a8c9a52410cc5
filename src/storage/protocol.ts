/** Storage operations the built-in engine, the cleaner and the killer need, one implementation per scheme. */

/**
 * What the built-in engine presents to storage for a user: an X.509 proxy file (a TLS client certificate,
 * X509_USER_PROXY for tools) and a bearer token (HTTP `Authorization`, and `TransferHeaderAuthorization`
 * so that an HTTP third-party copy can read the source).
 */
export interface TransferCredentials {
  /** an x509up file: proxy certificate, its key, then the chain */
  proxyPath?: string
  /** a bearer token (WLCG token or macaroon), without the `Bearer ` prefix */
  token?: string
}

export interface StatResult {
  size: number
  isDirectory: boolean
}

/** Where a free-space figure came from: what `aso explain` names beside it. */
export type FreeSpaceSource = 'webdav' | 'xrootd' | 'statfs'

/** How many bytes more a directory's storage takes, as that storage says. */
export interface FreeSpace {
  bytes: number
  source: FreeSpaceSource
  /** the URL that was asked (the directory itself, or its nearest existing parent) */
  url: string
}

/**
 * A failure of a storage operation, in FTS's reason form: `SCOPE [errno] message`.
 * The classifier reads `reason`; callers must not parse `message`.
 */
export class StorageError extends Error {
  readonly scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER'
  readonly errno: number
  readonly detail: string

  constructor(scope: 'SOURCE' | 'DESTINATION' | 'TRANSFER', errno: number, detail: string) {
    super(`${scope} [${errno}] ${detail}`)
    this.name = 'StorageError'
    this.scope = scope
    this.errno = errno
    this.detail = detail
  }

  get reason(): string {
    return this.message
  }
}

export interface StorageOptions {
  signal?: AbortSignal
  /** which end of a transfer this URL is, for the scope of error reasons */
  scope?: 'SOURCE' | 'DESTINATION'
  /** the user's credentials, where the storage asks for them (HTTP); absent: anonymous */
  credentials?: TransferCredentials
}

export interface ProtocolHandler {
  /** URL schemes served, e.g. ["file"] or ["root", "xroot"] */
  readonly schemes: readonly string[]
  /** size and type, or null when nothing is there */
  stat(url: string, opts?: StorageOptions): Promise<StatResult | null>
  /** adler32 as 8 lowercase hex digits */
  adler32(url: string, opts?: StorageOptions): Promise<string>
  /** removes a file; no error when it is already gone */
  remove(url: string, opts?: StorageOptions): Promise<void>
  /**
   * Bytes the storage still takes under directory `url` (a user's quota where the storage keeps one, else its
   * free space); null when the storage does not say. Absent: the scheme has no way to ask.
   */
  freeSpace?(url: string, opts?: StorageOptions): Promise<FreeSpace | null>
}
