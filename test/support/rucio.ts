/**
 * A real Rucio server for tests: the peer in ../shared/peers/rucio (Rucio 41 on SQLite, single-threaded,
 * 127.0.0.1) started by its start.sh in a temp dir on a free port. `kill()`/`restart()` keep the database
 * (start.sh would delete it: restart runs only its serve.py), `freeze()`/`thaw()` stop and continue the
 * process (calls hang instead of being refused). `admin` sets the stage as root (accounts, scopes, RSEs,
 * quotas) and reads back what a test checks, with plain undici calls independent of the code under test.
 *
 *   const missing = rucioPeerMissing()
 *   describe.skipIf(missing)(`... ${missing ?? ''}`, () => {
 *     beforeAll(async () => { peer = await startRucioPeer() })
 *     afterAll(() => peer?.stop())
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { existsSync, openSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { request } from 'undici'
import { freePort } from './xrootd.js'

const PEER_DIR = path.resolve(import.meta.dirname, '../../../shared/peers/rucio')
const PYTHON = '/usr/bin/python3'
/** The Debian packages the peer's README lists (scripts/install-peers.sh installs them). */
export const RUCIO_PEER_PACKAGES = [
  'python3-flask',
  'python3-werkzeug',
  'python3-alembic',
  'python3-dogpile.cache',
  'python3-dateutil',
  'python3-requests',
  'python3-jsonschema',
  'python3-boto3',
  'python3-paramiko',
  'python3-google-auth',
  'python3-geoip2',
  'python3-prometheus-client',
  'python3-statsd',
  'python3-pymemcache',
  'python3-packaging',
  'python3-urllib3',
]

/** The root account's userpass identity, as the peer bootstraps it. */
export const RUCIO_ROOT = { account: 'root', username: 'ddmlab', password: 'secret' } as const

/** dpkg-query's format (its own ${field} syntax): one "<package> install ok installed" line per package */
// biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's syntax, not a template
const DPKG_FORMAT = '${Package} ${Status}\\n'

/** null when the peer can start here; else one line saying why not (for describe.skipIf). */
export function rucioPeerMissing(): string | null {
  if (!existsSync(path.join(PEER_DIR, 'start.sh'))) return `no Rucio peer at ${PEER_DIR}`
  if (!existsSync(PYTHON)) return `the Rucio peer needs Debian's ${PYTHON}`
  let status = ''
  try {
    status = execFileSync('dpkg-query', ['-W', `-f=${DPKG_FORMAT}`, ...RUCIO_PEER_PACKAGES], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
  } catch (err) {
    status = String((err as { stdout?: string }).stdout ?? '')
  }
  const missing = RUCIO_PEER_PACKAGES.filter((p) => !status.includes(`${p} install ok installed`))
  if (missing.length === 0) return null
  return `the Rucio peer's packages are missing (${missing.join(' ')}): run scripts/install-peers.sh`
}

export interface RucioProtocol {
  scheme: 'root' | 'file' | 'davs' | 'https'
  hostname: string
  port: number
  prefix: string
}

const IMPL: Record<RucioProtocol['scheme'], string> = {
  root: 'rucio.rse.protocols.xrootd.Default',
  file: 'rucio.rse.protocols.posix.Default',
  davs: 'rucio.rse.protocols.webdav.Default',
  https: 'rucio.rse.protocols.webdav.Default',
}

export interface RucioPeer {
  /** http://127.0.0.1:PORT */
  url: string
  port: number
  dir: string
  readonly pid: number | undefined
  admin: RucioAdmin
  /** SIGKILL: connections are refused until `restart()`; the database stays */
  kill(): Promise<void>
  /** starts the server again on the same port with the same database */
  restart(): Promise<void>
  /** SIGSTOP / SIGCONT: connections are accepted but nothing answers until `thaw()` */
  freeze(): void
  thaw(): void
  /** kills the server and deletes its directory */
  stop(): Promise<void>
}

const running = new Set<number>()
let exitHandler = false
function installExitHandler(): void {
  if (exitHandler) return
  exitHandler = true
  process.on('exit', () => {
    for (const pid of running) signal(pid, 'SIGKILL')
  })
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig)
  } catch {
    // already gone
  }
}

async function waitForPing(url: string, alive: () => boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (!alive()) throw new Error(`the Rucio peer at ${url} exited before answering /ping`)
    try {
      const res = await request(`${url}/ping`, { signal: AbortSignal.timeout(2000) })
      if ((await res.body.text()).includes('"version"')) return
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`the Rucio peer at ${url} did not answer /ping within ${timeoutMs / 1000} s`)
}

const isAlive = (pid: number | undefined) => () => {
  if (pid === undefined) return false
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts a fresh server (new database) and waits until /ping answers. Tries three ports. */
export async function startRucioPeer(): Promise<RucioPeer> {
  const missing = rucioPeerMissing()
  if (missing) throw new Error(missing)
  installExitHandler()
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-rucio-'))
  let port = 0
  let lastError: unknown
  for (let attempt = 0; attempt < 3 && !port; attempt++) {
    const candidate = await freePort()
    try {
      await promisify(execFile)(path.join(PEER_DIR, 'start.sh'), [dir, String(candidate)], {
        timeout: 90_000,
      })
      port = candidate
    } catch (err) {
      lastError = err // another process took the port: another one
    }
  }
  if (!port) throw new Error(`the Rucio peer did not start: ${(lastError as Error).message}`)
  let pid: number | undefined = Number((await readFile(path.join(dir, 'server.pid'), 'utf8')).trim())
  running.add(pid)
  const url = `http://127.0.0.1:${port}`

  const kill = async (): Promise<void> => {
    if (pid === undefined) return
    const gone = pid
    signal(gone, 'SIGCONT')
    signal(gone, 'SIGKILL')
    running.delete(gone)
    pid = undefined
    while (isAlive(gone)()) await new Promise((r) => setTimeout(r, 20))
  }
  const restart = async (): Promise<void> => {
    await kill()
    const out = openSync(path.join(dir, 'log', 'server.out'), 'a')
    const child = spawn(PYTHON, [path.join(dir, 'serve.py')], {
      env: {
        ...process.env,
        RUCIO_HOME: dir,
        PYTHONPATH: [path.join(dir, 'src'), path.join(dir, 'deps'), path.join(dir, 'stubs')].join(':'),
        RUCIO_PORT: String(port),
      },
      detached: true,
      stdio: ['ignore', out, out],
    })
    child.unref()
    pid = child.pid
    if (pid !== undefined) running.add(pid)
    await waitForPing(url, isAlive(pid))
  }
  return {
    url,
    port,
    dir,
    get pid() {
      return pid
    },
    admin: new RucioAdmin(url, dir),
    kill,
    restart,
    freeze: () => pid !== undefined && signal(pid, 'SIGSTOP'),
    thaw: () => pid !== undefined && signal(pid, 'SIGCONT'),
    stop: async () => {
      await kill()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Stage-setting and read-back calls as root; each throws on an unexpected status, with Rucio's answer. */
export class RucioAdmin {
  private token: string | undefined

  constructor(
    readonly url: string,
    private readonly dir: string,
  ) {}

  /** a USER account `name` with the scope user.<name> */
  async addUser(name: string): Promise<{ account: string; scope: string }> {
    await this.call('POST', `/accounts/${name}`, { type: 'USER', email: `${name}@example.org` })
    await this.call('POST', `/accounts/${name}/scopes/user.${name}`)
    return { account: name, scope: `user.${name}` }
  }

  /** a GROUP account `name` with the scope group.<name> */
  async addGroup(name: string): Promise<{ account: string; scope: string }> {
    await this.call('POST', `/accounts/${name}`, { type: 'GROUP', email: `${name}@example.org` })
    await this.call('POST', `/accounts/${name}/scopes/group.${name}`)
    return { account: name, scope: `group.${name}` }
  }

  /** a userpass identity for `account` (e.g. a second service account) */
  async addUserpass(account: string, username: string, password: string): Promise<void> {
    await this.call('PUT', `/identities/${account}/userpass`, undefined, {
      'x-rucio-username': username,
      'x-rucio-password': password,
      'x-rucio-email': `${username}@example.org`,
    })
  }

  /** an RSE with protocols; `lfn2pfn: 'identity'` makes a deterministic RSE's PFN `prefix/user/alice/<lfn>` */
  async addRse(
    name: string,
    opts: { deterministic: boolean; protocols: RucioProtocol[]; lfn2pfn?: 'identity' | 'hash' },
  ): Promise<void> {
    await this.call('POST', `/rses/${name}`, { deterministic: opts.deterministic, rse_type: 'DISK' })
    for (const p of opts.protocols) {
      const rw = { read: 1, write: 1, delete: 1 }
      await this.call('POST', `/rses/${name}/protocols/${p.scheme}`, {
        hostname: p.hostname,
        port: p.port,
        prefix: p.prefix,
        impl: IMPL[p.scheme],
        domains: { lan: rw, wan: { ...rw, third_party_copy_read: 1, third_party_copy_write: 1 } },
      })
    }
    if (opts.lfn2pfn) await this.call('POST', `/rses/${name}/attr/lfn2pfn_algorithm`, { value: opts.lfn2pfn })
  }

  async setLimit(account: string, rse: string, bytes = 1e12): Promise<void> {
    await this.call('POST', `/accounts/${account}/limits/local/${rse}`, { bytes })
  }

  /** registers replicas directly (to set up a conflicting one) */
  async addReplicas(
    rse: string,
    files: { scope: string; name: string; bytes: number; adler32: string; pfn?: string }[],
  ): Promise<void> {
    await this.call('POST', '/replicas', { rse, files })
  }

  async createDid(scope: string, name: string, type: 'DATASET' | 'CONTAINER'): Promise<void> {
    await this.call('POST', didPath(scope, name), { type })
  }

  async attach(scope: string, parent: string, names: string[]): Promise<void> {
    await this.call('POST', `${didPath(scope, parent)}/dids`, {
      dids: names.map((name) => ({ scope, name })),
    })
  }

  async closeDid(scope: string, name: string): Promise<void> {
    await this.call('PUT', `${didPath(scope, name)}/status`, { open: false })
  }

  async did(scope: string, name: string): Promise<{ type: string; open: boolean; length: number | null }> {
    return JSON.parse(await this.call('GET', didPath(scope, name)))
  }

  /** the DIDs attached to a dataset or container */
  async content(scope: string, name: string): Promise<{ scope: string; name: string; type: string }[]> {
    return stream(await this.call('GET', `${didPath(scope, name)}/dids`, undefined, {}, true))
  }

  async rules(scope: string, name: string): Promise<RucioRule[]> {
    return stream(await this.call('GET', `${didPath(scope, name)}/rules`, undefined, {}, true))
  }

  async replicas(scope: string, names: string[]): Promise<RucioReplica[]> {
    const dids = names.map((name) => ({ scope, name }))
    return stream(await this.call('POST', '/replicas/list', { dids, all_states: true }, {}, true))
  }

  /** how many tokens the server holds for `account` (every login makes one) */
  async tokenCount(account: string): Promise<number> {
    return Number(await this.sql(`select count(*) from tokens where account = '${account}'`))
  }

  /** deletes every token from the database: clients' next calls answer 401 CannotAuthenticate */
  async revokeTokens(): Promise<void> {
    await this.sql('delete from tokens')
    this.token = undefined
  }

  private async sql(statement: string): Promise<string> {
    const script =
      'import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nr=c.execute(sys.argv[2]).fetchall()\nc.commit()\nprint(r[0][0] if r else "")'
    const { stdout } = await promisify(execFile)(PYTHON, [
      '-c',
      script,
      path.join(this.dir, 'rucio.db'),
      statement,
    ])
    return stdout.trim()
  }

  private async login(): Promise<string> {
    const res = await request(`${this.url}/auth/userpass`, {
      headers: {
        'x-rucio-account': RUCIO_ROOT.account,
        'x-rucio-username': RUCIO_ROOT.username,
        'x-rucio-password': RUCIO_ROOT.password,
      },
    })
    await res.body.text()
    const token = res.headers['x-rucio-auth-token']
    if (res.statusCode !== 200 || typeof token !== 'string') throw new Error(`root login: ${res.statusCode}`)
    return token
  }

  private async call(
    method: 'GET' | 'POST' | 'PUT',
    urlPath: string,
    json?: unknown,
    headers: Record<string, string> = {},
    list = false,
  ): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      this.token ??= await this.login()
      const res = await request(`${this.url}${urlPath}`, {
        method,
        headers: {
          ...headers,
          'x-rucio-auth-token': this.token,
          accept: list ? 'application/x-json-stream' : 'application/json',
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: json === undefined ? undefined : JSON.stringify(json),
      })
      const text = await res.body.text()
      if (res.statusCode < 300) return text
      if (res.statusCode === 401 && attempt === 0 && text.includes('CannotAuthenticate')) {
        this.token = undefined // revoked by a test: log in again
        continue
      }
      throw new Error(`rucio admin ${method} ${urlPath}: ${res.statusCode} ${text}`)
    }
  }
}

export interface RucioRule {
  id: string
  account: string
  rse_expression: string
  state: string
  copies: number
  grouping: string
  locks_ok_cnt: number
  locks_replicating_cnt: number
}

export interface RucioReplica {
  name: string
  bytes: number
  adler32: string
  rses: Record<string, string[]>
  states: Record<string, string>
}

/** Rucio's client's quote_plus for scopes and names in paths (`/` → %2F). */
function didPath(scope: string, name: string): string {
  return `/dids/${encodeURIComponent(scope)}/${encodeURIComponent(name)}`
}

function stream<T>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as T)
}
