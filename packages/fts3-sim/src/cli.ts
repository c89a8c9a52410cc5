/**
 * `aso-fts3-sim`: the FTS3 double as a server for one-machine trials.
 *   aso-fts3-sim --listen 127.0.0.1:8446 [--config aso.yaml] [--insecure-dn DN]
 *                [--cert PEM --key PEM --ca-dir DIR] [--stomp URL] [--vo NAME] [--max-active N]
 *                [--stomp-ca-dir DIR] [--stomp-cert PEM --stomp-key PEM] [--stomp-user U --stomp-password-file F]
 * From aso.yaml it reads only `api.tls` (cert, key, caDir) as TLS defaults, the first site `caDir` as
 * the CA directory when none is given, and `fts3.stomp` as the broker default: url, topic; for a stomp+ssl://
 * broker caDir, cert and key; for a URL without a user, username and passwordFile.
 */
import path from 'node:path'
import { parseArgs } from 'node:util'
import { loadConfig } from 'aso/config'
import { parseDuration } from 'aso/domain/duration'
import type { Fts3SimOptions } from './options.js'
import { startFts3Sim } from './server.js'
import type { StompTarget } from './stomp-publisher.js'

export interface Fts3SimCliIo {
  out(line: string): void
  err(line: string): void
  /** stops the server (default: SIGINT or SIGTERM) */
  stop?: Promise<void>
}

const USAGE = `usage: aso-fts3-sim --listen HOST:PORT [--config aso.yaml] [--insecure-dn DN]
                    [--cert FILE --key FILE --ca-dir DIR] [--stomp URL] [--topic NAME] [--alias NAME]
                    [--vo NAME] [--max-active N] [--archive-after DURATION]
                    [--stomp-ca-dir DIR] [--stomp-cert FILE --stomp-key FILE]
                    [--stomp-user NAME --stomp-password-file FILE]
  --insecure-dn DN   plain HTTP on loopback; every request is DN, holding a valid delegation
  --cert/--key       HTTPS with this host certificate; clients are verified against --ca-dir
  --stomp URL        publish completion messages: stomp://HOST:PORT, or stomp+ssl://HOST:PORT (TLS: the
                     broker checked against --stomp-ca-dir, default $X509_CERT_DIR; --stomp-cert/--stomp-key
                     when it asks for a client certificate)`

const defaultIo: Fts3SimCliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done)
      process.off('SIGTERM', done)
      resolve()
    }
    process.once('SIGINT', done)
    process.once('SIGTERM', done)
  })
}

/** The flags' names, for errors about the broker settings. */
const STOMP_FLAGS = {
  url: '--stomp (fts3.stomp.url)',
  caDir: '--stomp-ca-dir (fts3.stomp.caDir)',
  cert: '--stomp-cert (fts3.stomp.cert)',
  key: '--stomp-key (fts3.stomp.key)',
  username: '--stomp-user (fts3.stomp.username)',
  passwordFile: '--stomp-password-file (fts3.stomp.passwordFile)',
}

type StompConfig = NonNullable<NonNullable<ReturnType<typeof loadConfig>['config']['fts3']>['stomp']>

/**
 * The broker settings: the flags, else aso.yaml's `fts3.stomp` where they fit the URL in use (its TLS files
 * for a stomp+ssl:// URL, its login for a URL without one).
 */
function stompOptions(
  url: string,
  values: Partial<Record<`stomp-${'ca-dir' | 'cert' | 'key' | 'user' | 'password-file'}`, string>>,
  fromConfig: StompConfig | undefined,
  io: Fts3SimCliIo,
): StompTarget {
  const tls = /^(stomp\+ssl|ssl):/i.test(url)
  const userInUrl = /^[^:]+:\/\/[^@/]*@/.test(url)
  const tlsDefaults = tls ? fromConfig : undefined
  const loginDefaults = userInUrl ? undefined : fromConfig
  const pick = (flag: string | undefined, fallback: string | undefined) => flag ?? fallback
  const out: StompTarget = {
    url,
    caDir: pick(values['stomp-ca-dir'], tlsDefaults?.caDir),
    cert: pick(values['stomp-cert'], values['stomp-key'] === undefined ? tlsDefaults?.cert : undefined),
    key: pick(values['stomp-key'], values['stomp-cert'] === undefined ? tlsDefaults?.key : undefined),
    username: pick(values['stomp-user'], loginDefaults?.username),
    passwordFile: pick(
      values['stomp-password-file'],
      values['stomp-user'] === undefined ? loginDefaults?.passwordFile : undefined,
    ),
    names: STOMP_FLAGS,
    onProblem: (problem) => io.err(`aso-fts3-sim: ${problem}; messages wait until the broker has them`),
  }
  for (const k of ['caDir', 'cert', 'key', 'username', 'passwordFile'] as const) {
    if (out[k] === undefined) delete out[k]
  }
  return out
}

/** Runs the double until stopped; returns the exit code (0, or 3 for usage and configuration errors). */
export async function runFts3SimCli(args: string[], io: Fts3SimCliIo = defaultIo): Promise<number> {
  let opts: Fts3SimOptions
  try {
    const { values } = parseArgs({
      args,
      options: {
        listen: { type: 'string', default: '127.0.0.1:8446' },
        config: { type: 'string' },
        'insecure-dn': { type: 'string' },
        cert: { type: 'string' },
        key: { type: 'string' },
        'ca-dir': { type: 'string' },
        stomp: { type: 'string' },
        'stomp-ca-dir': { type: 'string' },
        'stomp-cert': { type: 'string' },
        'stomp-key': { type: 'string' },
        'stomp-user': { type: 'string' },
        'stomp-password-file': { type: 'string' },
        topic: { type: 'string' },
        alias: { type: 'string' },
        vo: { type: 'string' },
        'max-active': { type: 'string' },
        'archive-after': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    })
    if (values.help) {
      io.out(USAGE)
      return 0
    }
    const loaded = loadConfig({ path: values.config })
    const abs = (p: string | undefined): string | undefined =>
      p === undefined ? undefined : path.resolve(loaded.baseDir, p)
    const apiTls = loaded.config.api.tls
    const stomp = loaded.config.fts3?.stomp
    const siteCa = Object.values(loaded.config.sites).find((s) => s.caDir)?.caDir
    const insecure = values['insecure-dn']
    if (insecure !== undefined && (values.cert !== undefined || values.key !== undefined))
      throw new Error(
        '--insecure-dn serves plain HTTP: it cannot go with --cert/--key (drop one or the other)',
      )
    const cert = values.cert ?? (insecure ? undefined : abs(apiTls?.cert))
    const key = values.key ?? (insecure ? undefined : abs(apiTls?.key))
    const caDir = values['ca-dir'] ?? abs(apiTls?.caDir) ?? abs(siteCa) ?? process.env.X509_CERT_DIR
    if ((cert === undefined) !== (key === undefined)) throw new Error('--cert and --key go together')
    if (cert && !caDir) throw new Error('HTTPS needs --ca-dir (or api.tls.caDir in the config)')
    const stompUrl = values.stomp ?? stomp?.url
    const broker = stompUrl === undefined ? undefined : stompOptions(stompUrl, values, stomp, io)
    const maxActive = values['max-active'] === undefined ? 8 : Number(values['max-active'])
    if (!Number.isInteger(maxActive) || maxActive < 0) throw new Error('--max-active must be a whole number')
    opts = {
      listen: values.listen,
      insecureDn: insecure,
      tls: cert && key && caDir ? { cert, key, caDir } : undefined,
      vo: values.vo,
      maxActive,
      archiveAfterMs: values['archive-after']
        ? parseDuration(values['archive-after'], '--archive-after')
        : undefined,
      stomp: broker ? { ...broker, topic: values.topic ?? stomp?.topic, alias: values.alias } : undefined,
      env: caDir ? { X509_CERT_DIR: caDir } : {},
    }
  } catch (err) {
    io.err(`aso-fts3-sim: ${(err as Error).message}`)
    io.err(USAGE)
    return 3
  }
  let sim: Awaited<ReturnType<typeof startFts3Sim>>
  try {
    sim = await startFts3Sim(opts)
  } catch (err) {
    io.err(`aso-fts3-sim: cannot start: ${(err as Error).message}`)
    return 3
  }
  const who = opts.insecureDn ? `every request is ${opts.insecureDn}` : 'client certificates and tokens'
  io.out(`FTS3 test double listening on ${sim.url} (${who}); stop it with Ctrl-C`)
  await (io.stop ?? signalled())
  await sim.close()
  return 0
}
