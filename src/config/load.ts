import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml, YAMLParseError } from 'yaml'
import type { z } from 'zod'
import { AsoError } from '../domain/errors.js'
import { type AsoConfig, configSchema } from './schema.js'

export interface LoadedConfig {
  config: AsoConfig
  /** the file it came from, or null for embedded defaults */
  file: string | null
  /** directory relative paths in the config are resolved against */
  baseDir: string
}

/** `ASO_RETRY__MAX_ATTEMPTS=5` → ["retry", "maxAttempts"]: `__` separates levels, `_` joins camelCase words. */
function envPath(name: string): string[] {
  return name
    .slice('ASO_'.length)
    .split('__')
    .map((part) => part.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase()))
}

/** Environment variables `ASO_*` override scalars of the file. */
export function applyEnvOverrides(
  raw: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
): Record<string, unknown> {
  const out = structuredClone(raw)
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('ASO_') || value === undefined) continue
    const keys = envPath(name)
    // only variables naming a config section or key: ASO_CONFIG, ASO_USER and the like are not overrides
    if (!(keys[0]! in configSchema.shape)) continue
    let node: Record<string, unknown> = out
    for (const key of keys.slice(0, -1)) {
      const next = node[key]
      if (next === undefined || next === null) node[key] = {}
      else if (typeof next !== 'object') {
        throw new AsoError(
          'invalid-config',
          `${name}: ${keys.join('.')} cannot be set: ${key} is not a section`,
        )
      }
      node = node[key] as Record<string, unknown>
    }
    node[keys.at(-1)!] = parseYaml(value)
  }
  return out
}

function formatIssue(issue: z.core.$ZodIssue, file: string): string {
  const where = issue.path.length ? issue.path.join('.') : '(top level)'
  let message = issue.message
  if (issue.code === 'unrecognized_keys')
    message = `unknown key(s) ${issue.keys.join(', ')}; check the spelling`
  if (issue.code === 'invalid_key')
    message = `key is not valid: ${issue.issues.map((i) => i.message).join('; ')}`
  return `${file}: ${where}: ${message}`
}

/** Validates a raw config object; every error names its path in the file. */
export function parseConfig(raw: unknown, file = 'aso.yaml'): AsoConfig {
  const parsed = configSchema.safeParse(raw ?? {})
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => formatIssue(i, file))
    throw new AsoError('invalid-config', lines.join('\n'))
  }
  return parsed.data
}

/**
 * Loads `aso.yaml`: the given path, else $ASO_CONFIG, else ./aso.yaml when present, else the embedded defaults.
 * Relative paths inside the file are resolved against the file's directory.
 */
export function loadConfig(
  opts: { path?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): LoadedConfig {
  const env = opts.env ?? process.env
  const cwd = opts.cwd ?? process.cwd()
  let file = opts.path ?? env.ASO_CONFIG ?? null
  if (file === null && existsSync(path.join(cwd, 'aso.yaml'))) file = 'aso.yaml'
  let raw: Record<string, unknown> = {}
  let baseDir = cwd
  if (file !== null) {
    const abs = path.resolve(cwd, file)
    let text: string
    try {
      text = readFileSync(abs, 'utf8')
    } catch (e) {
      throw new AsoError('invalid-config', `cannot read config file ${abs}: ${(e as Error).message}`, {
        cause: e,
      })
    }
    try {
      raw = (parseYaml(text) as Record<string, unknown> | null) ?? {}
    } catch (e) {
      const where = e instanceof YAMLParseError && e.linePos ? ` line ${e.linePos[0].line}` : ''
      throw new AsoError(
        'invalid-config',
        `${abs}:${where}: not valid YAML: ${(e as Error).message.split('\n')[0]}`,
      )
    }
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new AsoError('invalid-config', `${abs}: the top level must be a mapping (key: value)`)
    }
    file = abs
    baseDir = path.dirname(abs)
  }
  const config = parseConfig(applyEnvOverrides(raw, env), file ?? 'defaults')
  return { config: resolvePaths(config, baseDir), file, baseDir }
}

/** Makes the config's relative filesystem paths absolute against `baseDir`. */
export function resolvePaths(config: AsoConfig, baseDir: string): AsoConfig {
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(baseDir, p))
  const database = config.database.startsWith('sqlite:')
    ? `sqlite:${config.database === 'sqlite::memory:' ? ':memory:' : abs(config.database.slice('sqlite:'.length))}`
    : config.database
  const sites = Object.fromEntries(
    Object.entries(config.sites).map(([name, s]) => [
      name,
      {
        ...s,
        protocols: s.protocols.map((p) =>
          p.scheme === 'file' && p.prefix !== undefined && !p.prefix.startsWith('file:')
            ? { ...p, prefix: abs(p.prefix) }
            : p,
        ),
      },
    ]),
  )
  const { api } = config
  const apiPaths = {
    ...api,
    ...(api.tls
      ? { tls: { cert: abs(api.tls.cert), key: abs(api.tls.key), caDir: abs(api.tls.caDir) } }
      : {}),
    tokens: {
      ...api.tokens,
      issuers: api.tokens.issuers.map((i) => (/^https?:/.test(i.jwks) ? i : { ...i, jwks: abs(i.jwks) })),
    },
    callbacks: {
      ...api.callbacks,
      ...(api.callbacks.secretFile ? { secretFile: abs(api.callbacks.secretFile) } : {}),
    },
  }
  const { fts3 } = config
  const fts3Paths = fts3 && {
    ...fts3,
    proxyPath: abs(fts3.proxyPath),
    caDir: abs(fts3.caDir),
    ...(fts3.tokenPath ? { tokenPath: abs(fts3.tokenPath) } : {}),
    ...(fts3.stomp ? { stomp: stompPaths(fts3.stomp, abs) } : {}),
  }
  const { catalog } = config
  const catalogPaths = catalog && {
    ...catalog,
    auth: {
      ...catalog.auth,
      ...(catalog.auth.passwordFile ? { passwordFile: abs(catalog.auth.passwordFile) } : {}),
    },
  }
  const couch = config.ingest?.couchdb
  const ingestPaths = couch?.credentialsFile
    ? { ...config.ingest, couchdb: { ...couch, credentialsFile: abs(couch.credentialsFile) } }
    : config.ingest
  return {
    ...config,
    database,
    sitesDir: abs(config.sitesDir),
    sites,
    api: apiPaths,
    fts3: fts3Paths,
    catalog: catalogPaths,
    ingest: ingestPaths,
  }
}

type StompConfig = NonNullable<NonNullable<AsoConfig['fts3']>['stomp']>

/** The broker's files (CA directory, client certificate, password file) made absolute. */
function stompPaths(stomp: StompConfig, abs: (p: string) => string): StompConfig {
  const out = { ...stomp }
  for (const k of ['caDir', 'cert', 'key', 'passwordFile'] as const) {
    const p = stomp[k]
    if (p !== undefined) out[k] = abs(p)
  }
  return out
}
