/**
 * A real PostgreSQL server for tests: `initdb` in a temp dir (as the `postgres` system user when we are root,
 * since PostgreSQL refuses to run as root), a free loopback port, its unix socket in the temp dir, started in
 * the foreground through `setpriv --pdeathsig KILL` so it dies with the test process. `stop()`, `restart()`
 * (same port and data) and `remove()`; every test database gets its own name.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs'
import { chmod, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { freePort } from './xrootd.js'

export interface TestPostgres {
  port: number
  dir: string
  /** postgres://postgres@127.0.0.1:PORT/DB */
  url(database: string): string
  /** creates an empty database (from `template`, default template0's copy template1) and returns its URL */
  createDatabase(name: string, template?: string): Promise<string>
  /** runs one statement as the superuser on database `postgres` */
  query(sql: string, database?: string): Promise<pg.QueryResult>
  /** fast shutdown (SIGINT): open connections are cut, as when a real server restarts */
  stop(): Promise<void>
  start(): Promise<void>
  restart(): Promise<void>
  /** stops the server and deletes its directory */
  remove(): Promise<void>
}

const running = new Set<ChildProcess>()
const dirs = new Set<string>()
let exitHandler = false

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    try {
      accessSync(path.join(dir, name), constants.X_OK)
      return path.join(dir, name)
    } catch {
      // not here: the next directory of PATH
    }
  }
  return null
}

/** The directory of `initdb` and `postgres`: Debian keeps them off PATH, under /usr/lib/postgresql/<major>/bin. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql'
  if (existsSync(root)) {
    const majors = readdirSync(root)
      .filter((v) => /^\d+$/.test(v) && existsSync(path.join(root, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a))
    if (majors[0]) return path.join(root, majors[0], 'bin')
  }
  const initdb = which('initdb')
  if (initdb && which('postgres')) return path.dirname(initdb)
  throw new Error(
    'PostgreSQL server binaries (initdb, postgres) are missing: install the Debian package postgresql ' +
      '(scripts/install-peers.sh does it)',
  )
}

const isRoot = () => process.getuid?.() === 0

function ensurePostgresUser(): void {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' })
  } catch {
    // no such user yet (the package normally creates it): a system user without a login
    execFileSync('useradd', [
      '--system',
      '--home-dir',
      '/var/lib/postgresql',
      '--shell',
      '/bin/false',
      'postgres',
    ])
  }
}

/** argv prefix that runs a program as the server's user and kills it when we die. */
function asServerUser(): string[] {
  const setpriv = which('setpriv')
  if (!setpriv) throw new Error('setpriv is missing: install the Debian package util-linux')
  return [
    setpriv,
    ...(isRoot() ? ['--reuid=postgres', '--regid=postgres', '--init-groups'] : []),
    '--pdeathsig',
    'KILL',
    '--',
  ]
}

function installExitHandler(): void {
  if (exitHandler) return
  exitHandler = true
  process.on('exit', () => {
    for (const p of running) p.kill('SIGKILL')
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })
}

/** Starts a fresh server and waits until it accepts connections. */
export async function startTestPostgres(
  opts: { settings?: Record<string, string> } = {},
): Promise<TestPostgres> {
  const bin = postgresBinDir()
  if (isRoot()) ensurePostgresUser()
  installExitHandler()
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-pg-'))
  dirs.add(dir)
  const data = path.join(dir, 'data')
  const log = path.join(dir, 'postgres.log')
  if (isRoot()) {
    await chmod(dir, 0o755)
    execFileSync('chown', ['postgres:postgres', dir])
  }
  const [runner, ...prefix] = asServerUser()
  execFileSync(
    runner!,
    [
      ...prefix,
      path.join(bin, 'initdb'),
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  )
  const port = await freePort()
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    unix_socket_directories: dir,
    // a test server: durability is not the point, speed is
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    shared_buffers: '128MB',
    // lets a test replay the history in commit order (pg_xact_commit_timestamp)
    track_commit_timestamp: 'on',
    ...opts.settings,
  }
  await writeFile(
    path.join(data, 'postgresql.auto.conf'),
    Object.entries(settings)
      .map(([k, v]) => `${k} = '${v}'`)
      .join('\n'),
  )
  if (isRoot()) execFileSync('chown', ['postgres:postgres', path.join(data, 'postgresql.auto.conf')])

  let proc: ChildProcess | null = null
  const launch = async () => {
    const out = await open(log, 'a')
    const p = spawn(runner!, [...prefix, path.join(bin, 'postgres'), '-D', data, '-p', String(port)], {
      stdio: ['ignore', out.fd, out.fd],
    })
    await out.close()
    running.add(p)
    p.once('exit', () => running.delete(p))
    proc = p
    const deadline = Date.now() + 30_000
    for (;;) {
      if (p.exitCode !== null || p.signalCode !== null) {
        throw new Error(`postgres exited before accepting connections:\n${await tail(log)}`)
      }
      try {
        const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
        await c.connect()
        await c.end()
        return
      } catch (e) {
        if (Date.now() > deadline)
          throw new Error(`postgres not ready: ${(e as Error).message}\n${await tail(log)}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }
  const stop = async () => {
    const p = proc
    proc = null
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((r) => p.once('exit', () => r()))
    // SIGINT to setpriv's exec'd process, i.e. the postmaster itself: "fast" shutdown
    p.kill('SIGINT')
    await exited
  }
  const query = async (sql: string, database = 'postgres') => {
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database })
    await c.connect()
    try {
      return await c.query(sql)
    } finally {
      await c.end()
    }
  }
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`
  await launch()
  return {
    port,
    dir,
    url,
    query,
    async createDatabase(name, template = 'template1') {
      await query(`create database "${name}" template "${template}"`)
      return url(name)
    },
    stop,
    start: launch,
    async restart() {
      await stop()
      await launch()
    },
    async remove() {
      await stop()
      await rm(dir, { recursive: true, force: true })
      dirs.delete(dir)
    },
  }
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch (e) {
    return `(no ${file}: ${(e as Error).message})`
  }
}
