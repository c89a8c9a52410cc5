import { z } from 'zod'
import { dnKey, parseSlashDn } from '../credentials/dn.js'
import { areaPatternProblem, DEFAULT_AREAS } from '../domain/lfn.js'
import { webhookSecretProblem } from '../domain/webhook-signature.js'
import { catalog } from './catalog.js'
import { duration } from './fields.js'
import { ingest } from './ingest.js'
import { checkAdaptiveLinks, linkSettings } from './links.js'
import { siteQuota } from './quota.js'

const SITE_NAME = /^[A-Za-z0-9_-]{1,64}$/

const pfnRule = z.strictObject({
  match: z.string().refine(
    (s) => {
      try {
        new RegExp(s)
        return true
      } catch {
        // an invalid pattern is reported as the refinement's message
        return false
      }
    },
    { message: 'is not a valid regular expression' },
  ),
  pfn: z.string().min(1),
})

const protocol = z
  .strictObject({
    scheme: z
      .string()
      .regex(/^[a-z][a-z0-9+.-]*$/, 'must be a URL scheme such as root, davs, https, file, srm'),
    /** PFN = prefix + LFN */
    prefix: z.string().optional(),
    /** ordered, first match wins (CMS TFC style); `$1`… refer to the match's groups */
    rules: z.array(pfnRule).optional(),
    /** whether the endpoint takes part in third-party copies (default true) */
    tpc: z.boolean().default(true),
  })
  .refine((p) => p.prefix !== undefined || (p.rules?.length ?? 0) > 0, {
    message: 'needs a prefix or at least one rule to map LFNs to PFNs',
  })

/** A user or group area such as `/store/temp/user/{user}.*`: one user's may never match another's path. */
const areaPattern = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .superRefine((v, ctx) => {
      const problem = areaPatternProblem(v)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    })

const site = z.strictObject({
  protocols: z.array(protocol).min(1, 'a site needs at least one protocol'),
  tempArea: areaPattern(DEFAULT_AREAS.tempArea),
  tempGroupArea: areaPattern(DEFAULT_AREAS.tempGroupArea),
  userArea: areaPattern(DEFAULT_AREAS.userArea),
  groupArea: areaPattern(DEFAULT_AREAS.groupArea),
  caDir: z.string().optional(),
  /** quota-aware admission (config/quota.ts); absent: files go until the storage refuses them */
  quota: siteQuota.optional(),
})

const user = z.strictObject({
  dns: z.array(z.string()).default([]),
  groups: z.array(z.string()).default([]),
  vomsRoles: z.array(z.string()).default([]),
  role: z.enum(['user', 'operator', 'admin']).default('user'),
  weight: z.number().positive().default(1),
})

/**
 * `users.<name>.dns` are matched RDN by RDN against certificates (credentials/dn.ts): each must parse
 * unambiguously, and one DN may belong to one user only.
 */
function checkUserDns(users: Record<string, { dns: string[] }>, ctx: z.RefinementCtx): void {
  const owner = new Map<string, string>()
  for (const [name, u] of Object.entries(users)) {
    u.dns.forEach((dn, i) => {
      const parsed = parseSlashDn(dn)
      if (!parsed.ok) {
        ctx.addIssue({
          code: 'custom',
          path: [name, 'dns', i],
          message: `user ${name}: ${parsed.reason}`,
        })
        return
      }
      const key = dnKey(parsed.rdns)
      const other = owner.get(key)
      if (other !== undefined && other !== name) {
        ctx.addIssue({
          code: 'custom',
          path: [name, 'dns', i],
          message: `user ${name}: the DN ${dn} is also listed for user ${other}; a certificate maps to one user, so keep it under one of them`,
        })
      }
      owner.set(key, name)
    })
  }
}

/** One FTS3 server and the links it serves (`SOURCE->DESTINATION`, `*` matches any part of a site name). */
const fts3Server = z.strictObject({
  url: z
    .string()
    .regex(/^https?:\/\/[^/\s]+\/?$/, 'must be https://HOST:PORT (http:// only for a local test double)'),
  links: z
    .array(
      z
        .string()
        .regex(/^[A-Za-z0-9_*-]+(->[A-Za-z0-9_*-]+)?$/, 'use SOURCE->DESTINATION patterns, e.g. "*->*"'),
    )
    .min(1)
    .default(['*->*']),
  /** used only when no primary server of the link answers */
  fallback: z.boolean().default(false),
})

/**
 * The broker FTS publishes completion messages to: `stomp://` (plain) or `stomp+ssl://` (STOMP over TLS: the
 * broker's certificate checked against `caDir`, a client certificate when `cert` and `key` are given).
 */
const fts3Stomp = z
  .strictObject({
    /** stomp://[user:password@]host:port, or stomp+ssl://host:port for TLS (tcp:// and ssl:// too) */
    url: z
      .string()
      .regex(
        /^(stomp|tcp|stomp\+ssl|ssl):\/\/([^@/\s]+@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?\/?$/,
        'must be stomp://HOST:PORT, or stomp+ssl://HOST:PORT for STOMP over TLS',
      ),
    topic: z.string().min(1).default('transfer.fts_monitoring_complete'),
    /** keep only messages of this VO */
    vo: z.string().min(1).optional(),
    /** TLS: CAs the broker's certificate is checked against (default: $X509_CERT_DIR, else /etc/grid-security/certificates) */
    caDir: z.string().min(1).optional(),
    /** TLS: a client certificate for brokers that ask for one (PEM files, both or neither) */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** the broker login, instead of user@ in the URL */
    username: z.string().min(1).optional(),
    /** a file holding the broker password (first line), instead of :password in the URL */
    passwordFile: z.string().min(1).optional(),
  })
  .superRefine((s, ctx) => {
    const tls = /^(stomp\+ssl|ssl):/.test(s.url)
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    for (const k of ['caDir', 'cert', 'key'] as const) {
      if (s[k] !== undefined && !tls)
        issue(k, `${k} is for STOMP over TLS but the url is plain: use stomp+ssl://HOST:PORT, or drop ${k}`)
    }
    if (s.cert !== undefined && s.key === undefined)
      issue(
        'key',
        'missing: a client certificate (cert) needs its private key (key) too; give both or neither',
      )
    if (s.key !== undefined && s.cert === undefined)
      issue(
        'cert',
        'missing: a private key (key) needs its client certificate (cert) too; give both or neither',
      )
    const inUrl = /^[^:]+:\/\/([^@/]*)@/.exec(s.url)?.[1]
    if (s.username !== undefined && inUrl !== undefined)
      issue('username', 'the url names a user too: give the user in one place only')
    if (s.passwordFile !== undefined && inUrl?.includes(':'))
      issue('passwordFile', 'the url holds a password too: keep the password in the file only')
    if (s.passwordFile !== undefined && s.username === undefined && inUrl === undefined)
      issue('passwordFile', 'a password needs a user: set username too')
  })

/** The `fts3` engine (ARCHITECTURE.md sections 7 and 9): servers, users' credentials, job parameters, messages. */
const fts3 = z.strictObject({
  servers: z.array(fts3Server).min(1, 'list at least one FTS3 server'),
  /** each user's X.509 proxy; `{user}` is the user name */
  proxyPath: z.string().min(1).default('/var/lib/aso/proxies/{user}.pem'),
  /** each user's bearer token, used instead of the proxy when the file exists */
  tokenPath: z.string().min(1).optional(),
  /** CA certificates the servers' host certificates are checked against */
  caDir: z.string().default('/etc/grid-security/certificates'),
  maxFilesPerJob: z.number().int().min(1).max(1000).default(100),
  /** FTS cancels files still queued after this (sent with its unit) */
  maxTimeInQueue: duration('4h'),
  /** overwrite destination files ASO did not write */
  overwrite: z.boolean().default(false),
  /** below both/target, ASO checks each destination itself before DONE */
  verifyChecksum: z.enum(['both', 'target', 'source', 'none']).default('both'),
  /** FTS priority 1..5 for every job; absent: each job's highest request priority */
  priority: z.number().int().min(1).max(5).optional(),
  delegation: z
    .strictObject({
      /** lifetime of a delegated proxy (cut to the user's proxy) */
      lifetime: duration('48h'),
      /** delegate again once the server's copy has less left than this */
      renewBelow: duration('24h'),
    })
    .prefault({}),
  /** a user whose proxy has less left than this is held, with a credential reason */
  minProxyLifetime: duration('2h'),
  /** one HTTP call's limit */
  timeout: duration('30s'),
  stomp: fts3Stomp.optional(),
})

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/

/** A bearer-token issuer the API trusts: its keys, and which claims carry the username and groups. */
const tokenIssuer = z.strictObject({
  issuer: z.string().min(1),
  /** a JWKS file (relative to aso.yaml) or an https:// URL serving one */
  jwks: z.string().min(1),
  audience: z.union([z.string(), z.array(z.string())]).optional(),
  /** the claim whose value is the ASO username */
  usernameClaim: z.string().default('preferred_username'),
  /** a claim listing the caller's groups (e.g. wlcg.groups); without it groups come from users: */
  groupsClaim: z.string().optional(),
})

/** How much one caller, one request and the whole server may take of `aso serve`'s API. */
const apiLimits = z.strictObject({
  /** open connections in total; more are closed at once */
  connections: z.number().int().min(1).max(1_000_000).default(2000),
  /** event streams and long-polls (wait) open at once, all users: more are answered 503 */
  streams: z.number().int().min(1).max(100_000).default(500),
  /** event streams and long-polls open at once per user: more are answered 429 */
  streamsPerUser: z.number().int().min(1).max(100_000).default(16),
  /** requests per identity per window (0: no limit); more are answered 429 */
  requests: z.number().int().min(0).default(6000),
  requestWindow: duration('1m'),
  /** the largest request body, except an inject's */
  bodyBytes: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /** the largest inject body (10,000 requests with long LFNs fit in 32 MiB) */
  injectBodyBytes: z
    .number()
    .int()
    .min(1024)
    .default(32 * 1024 * 1024),
  /** nesting of a JSON body (an inject body needs 4) */
  jsonDepth: z.number().int().min(4).max(1000).default(16),
  /** keys of one JSON object of a body (a transfer request has 19 fields) */
  jsonKeys: z.number().int().min(20).max(100_000).default(64),
  /** the largest inject answer: past it, rejected items keep their id and status only */
  answerBytes: z
    .number()
    .int()
    .min(64 * 1024)
    .default(1024 * 1024),
  /** a request's headers and body must arrive within this */
  requestTimeout: duration('60s'),
  /** a connection with nothing sent either way for this long is closed (streams excepted) */
  idleTimeout: duration('2m'),
  /** an idle kept-alive connection between two requests is closed after this */
  keepAliveTimeout: duration('10s'),
  /** a TLS handshake must finish within this */
  handshakeTimeout: duration('10s'),
})

/** The HTTP API of `aso serve` (and the webhooks its agent sends). */
const api = z.strictObject({
  listen: z
    .string()
    .regex(HOST_PORT, 'must be HOST:PORT, e.g. 127.0.0.1:8443 or [::1]:8443')
    .default('127.0.0.1:8443'),
  /** the host certificate and key, and the CAs client certificates (and proxies) are verified against */
  tls: z
    .strictObject({
      cert: z.string().min(1),
      key: z.string().min(1),
      caDir: z.string().default('/etc/grid-security/certificates'),
    })
    .optional(),
  tokens: z
    .strictObject({
      issuers: z.array(tokenIssuer).default([]),
      /**
       * Token groups (and VOMS FQAN groups) are whole paths: `/cms` is group `cms`; a subgroup gives a group
       * only through this map, e.g. `"/cms/higgs": cms-higgs`.
       */
      groupMap: z
        .record(
          z.string().regex(/^(\/[A-Za-z0-9._-]{1,64})+$/, 'keys are group paths such as /cms/higgs'),
          z
            .string()
            .regex(/^[A-Za-z0-9._-]{1,64}$/, 'values are ASO group names (1-64 of A-Z a-z 0-9 . _ -)'),
        )
        .default({}),
    })
    .prefault({}),
  callbacks: z
    .strictObject({
      /** hosts a request's callbackUrl may point to: `host`, or `.example.org` for a whole domain */
      allowHosts: z.array(z.string().min(1)).default([]),
      /**
       * the webhook signing key (or a file holding it): `whsec_<base64>` (Standard Webhooks), or a raw secret of
       * 16+ characters whose UTF-8 bytes are the key
       */
      secret: z
        .string()
        .superRefine((v, ctx) => {
          const problem = webhookSecretProblem(v)
          if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
        })
        .optional(),
      secretFile: z.string().optional(),
      maxAttempts: z.number().int().min(1).max(1000).default(20),
      backoff: z
        .strictObject({
          initial: duration('5s'),
          factor: z.number().min(1).default(2),
          max: duration('10m'),
        })
        .prefault({}),
      /** one delivery attempt's limit */
      timeout: duration('10s'),
    })
    .prefault({})
    .refine((c) => c.allowHosts.length === 0 || c.secret !== undefined || c.secretFile !== undefined, {
      message: 'allowHosts is set but there is no secret (or secretFile) to sign the notifications with',
    }),
  limits: apiLimits.prefault({}),
})

export const configSchema = z
  .strictObject({
    database: z.string().default('sqlite:./aso-data/aso.db'),
    engine: z.enum(['local', 'fts3']).default('local'),
    /** a name for this deployment (FTS job_metadata.instance); several ASOs may share an FTS */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .default('aso'),
    /** where implicit file:// sites live when `sites` is empty: each directory is a site */
    sitesDir: z.string().default('./aso-data/sites'),
    sites: z.record(z.string().regex(SITE_NAME, 'site names use letters, digits, _ and -'), site).default({}),
    links: z
      .record(
        z
          .string()
          .regex(/^(default|[A-Za-z0-9_*-]+->[A-Za-z0-9_*-]+)$/, 'use "default" or "SOURCE->DESTINATION"'),
        linkSettings,
      )
      .default({}),
    users: z.record(z.string(), user).default({}).superRefine(checkUserDns),
    retry: z
      .strictObject({
        maxAttempts: z.number().int().min(1).max(100).default(3),
        backoff: z
          .strictObject({
            initial: duration('1m'),
            factor: z.number().min(1).default(4),
            max: duration('2h'),
            jitter: z.number().min(0).max(1).default(0.2),
          })
          .prefault({}),
      })
      .prefault({}),
    cleanup: z
      .strictObject({
        deleteSourceOnDone: z.boolean().default(true),
        tempRetention: duration('14d'),
      })
      .prefault({}),
    holds: z
      .strictObject({
        /** how long a quota hold lasts before ASO tries the destination again */
        quotaRecheck: duration('30m'),
        /** a file held longer than this fails with its hold's class */
        maxHold: duration('2d'),
      })
      .prefault({}),
    agent: z
      .strictObject({
        /** how often each loop runs when nothing wakes it earlier */
        submitInterval: duration('2s'),
        pollInterval: duration('30s'),
        retryInterval: duration('5s'),
        cleanInterval: duration('1m'),
        reapInterval: duration('30s'),
        heartbeatInterval: duration('5s'),
        /** an agent whose heartbeat is older than this is dead; its work is taken over */
        lease: duration('30s'),
        /** SUBMITTED with no engine progress for this long: cancelled and retried */
        stallTimeout: duration('6h'),
        /** SUBMITTING for longer than this (a crash mid-submit): resubmitted with the same job id */
        submitTimeout: duration('2m'),
        shutdownGrace: duration('30s'),
        /** how often the notifier looks for webhook notifications to send (terminal outcomes wake it sooner) */
        notifyInterval: duration('2s'),
        /** how often the publisher looks at blocks when nothing wakes it earlier */
        publishInterval: duration('30s'),
        /** how often the leader reads each adaptive link's measurements and moves its limit (links.*.adaptive) */
        tuneInterval: duration('1m'),
        /** records per store operation */
        batchSize: z.number().int().min(1).max(10_000).default(1000),
        /**
         * how the submitter shares a link between the users waiting on it: weighted fair share, or `fifo`, the
         * original ASO's order (the queue with the oldest waiting file first; for baselines such as aso simulate)
         */
        scheduling: z.enum(['fair-share', 'fifo']).default('fair-share'),
      })
      .prefault({}),
    local: z
      .strictObject({
        /** copies the built-in engine runs at once over all links */
        maxConcurrent: z.number().int().min(1).max(1000).default(16),
        /** overwrite destination files ASO did not write (files ASO wrote are always overwritable) */
        overwrite: z.boolean().default(false),
        /** per-copy timeout; a child process is killed when it passes */
        copyTimeout: duration('1h'),
        /** files per xrdcp --parallel batch */
        xrootParallel: z.number().int().min(1).max(64).default(8),
      })
      .prefault({}),
    fts3: fts3.optional(),
    api: api.prefault({}),
    /** publication of delivered outputs (requests with publish: true); none: such requests are refused */
    catalog: catalog.optional(),
    /** queues read besides the API: the original ASO's CouchDB database (docs/couchdb-bridge.md) */
    ingest: ingest.prefault({}),
  })
  // adaptive limits only on built-in engine links, within their bounds once merged with links.default
  .superRefine(checkAdaptiveLinks)

/** The validated configuration, durations in milliseconds. */
export type AsoConfig = z.output<typeof configSchema>
export type SiteConfig = AsoConfig['sites'][string]
export type ProtocolConfig = SiteConfig['protocols'][number]
export type UserConfig = AsoConfig['users'][string]
export type ApiConfig = AsoConfig['api']
export type Fts3Config = NonNullable<AsoConfig['fts3']>
export type CatalogConfig = NonNullable<AsoConfig['catalog']>
export type CouchConfig = NonNullable<AsoConfig['ingest']['couchdb']>
