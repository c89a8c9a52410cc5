/**
 * CERN's official FTS REST client (../shared/peers/fts-rest-client, unmodified) run against the double:
 * its `easy` API through a short Python program, and its `fts-rest-*` scripts, with Debian's python3.
 *   const missing = ftsClientMissing()
 *   describe.skipIf(missing)(`... ${missing ?? ''}`, () => { ... easy(url, 'out(easy.whoami(ctx))') ... })
 * FTS_REST_CLIENT_DIR points at another checkout of the client (one that ships `src/fts3/cli`, say).
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import path from 'node:path'

const PEER_DIR =
  process.env.FTS_REST_CLIENT_DIR ??
  path.resolve(import.meta.dirname, '../../../../../shared/peers/fts-rest-client')
const SRC = path.join(PEER_DIR, 'src')
const PYTHON = '/usr/bin/python3'
/** The Debian packages the peer's README lists (scripts/install-peers.sh installs them). */
export const FTS_CLIENT_PACKAGES = ['python3-requests', 'python3-m2crypto', 'python3-dateutil']
/** dpkg-query's own placeholders, not JavaScript's */
const DPKG_FORMAT = ['$', '{Package} $', '{Status}\n'].join('')

/** Why the client cannot run here, or null. */
export function ftsClientMissing(): string | null {
  if (!existsSync(path.join(SRC, 'fts3/rest/client/easy/__init__.py')))
    return `no FTS REST client at ${PEER_DIR}`
  if (!existsSync(PYTHON)) return `the FTS REST client needs Debian's ${PYTHON}`
  let status = ''
  try {
    status = execFileSync('dpkg-query', ['-W', `-f=${DPKG_FORMAT}`, ...FTS_CLIENT_PACKAGES], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  } catch (err) {
    status = String((err as { stdout?: string }).stdout ?? '')
  }
  const missing = FTS_CLIENT_PACKAGES.filter((p) => !status.includes(`${p} install ok installed`))
  if (missing.length === 0) return null
  return `the FTS REST client's packages are missing (${missing.join(' ')}): run scripts/install-peers.sh`
}

/** Why the `fts-rest-*` scripts cannot run here (they import `fts3.cli`), or null. */
export function ftsScriptsMissing(): string | null {
  const client = ftsClientMissing()
  if (client) return client
  if (!existsSync(path.join(SRC, 'fts3/cli/__init__.py'))) {
    return `the fts-rest-* scripts import fts3.cli, which ${SRC} does not ship`
  }
  return null
}

export interface PythonRun {
  code: number
  stdout: string
  stderr: string
}

/** Where the client finds its credentials: none (plain HTTP), or a certificate/proxy file and a CA dir. */
export interface ClientAuth {
  cert?: string
  key?: string
  caDir?: string
}

function run(args: string[], auth: ClientAuth = {}, timeoutMs = 60_000): Promise<PythonRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    PYTHONPATH: SRC,
    PYTHONDONTWRITEBYTECODE: '1',
    HOME: process.env.HOME ?? '/tmp',
  }
  if (auth.caDir) env.X509_CERT_DIR = auth.caDir
  if (auth.cert) env.X509_USER_CERT = auth.cert
  if (auth.key) env.X509_USER_KEY = auth.key
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      args,
      { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
        resolve({ code, stdout, stderr })
      },
    )
  })
}

const PREAMBLE = `
import json, os, sys, time
from datetime import timedelta
from fts3.rest.client import easy
from fts3.rest.client.exceptions import *
# the client's own quirk (its README): Context reads fts_access_token before setting it
easy.Context.fts_access_token = None
_cert = os.environ.get("X509_USER_CERT")
if _cert:
    ctx = easy.Context(sys.argv[1], ucert=_cert, ukey=os.environ["X509_USER_KEY"], capath=os.environ.get("X509_CERT_DIR"))
else:
    ctx = easy.Context(sys.argv[1], no_creds=True)
def out(value):
    print(json.dumps(value, default=str))
def wait_job(context, jid, states=("FINISHED", "FINISHEDDIRTY", "FAILED", "CANCELED"), timeout=30):
    """polls the job's status, as a client does, until it reaches one of states"""
    deadline = time.time() + timeout
    while True:
        state = easy.get_job_status(context, jid)["job_state"]
        if state in states:
            return state
        if time.time() > deadline:
            raise Exception("job %s still %s after %d s" % (jid, state, timeout))
        time.sleep(0.05)
def raised(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:
        return [type(e).__name__, str(e)]
    return None
`

/**
 * Runs `body` (Python, with `ctx`, `easy`, `out(value)`, `raised(fn, ...)` and `wait_job(ctx, id)` defined)
 * against `url`;
 * returns what it printed with out(), one value per call. Throws with the traceback when it fails.
 */
export async function easy(url: string, body: string, auth: ClientAuth = {}): Promise<unknown[]> {
  const r = await run(['-c', `${PREAMBLE}\n${body}`, url], auth)
  if (r.code !== 0) throw new Error(`the official client failed (exit ${r.code}):\n${r.stderr}${r.stdout}`)
  return r.stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown)
}

/** Runs the client's `fts-rest-<name>` script with `args` (`-s URL` included by the caller). */
export function script(name: string, args: string[], auth: ClientAuth = {}): Promise<PythonRun> {
  return run([path.join(SRC, 'cli', `fts-rest-${name}`), ...args], auth)
}
