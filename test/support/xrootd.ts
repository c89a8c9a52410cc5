/**
 * Real XRootD servers for tests (storage-lab.md section 1): one foreground `xrootd` per site on a free
 * loopback port, owned by the test process. Run the tests inside a private network namespace (scripts/test.sh).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { chmod, chown, mkdir, open, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { runChild } from '../../src/engines/local/child-process.js'

export interface XrootdSite {
  name: string
  port: number
  /** root://127.0.0.1:PORT */
  url: string
  /** the site's oss.localroot */
  dataDir: string
  stop(): Promise<void>
  /** stops the server and starts it again on the same port */
  restart(): Promise<void>
}

export interface XrootdSiteOptions {
  name: string
  baseDir: string
  port?: number
  /** third-party copy enabled (default true); false makes a site that answers [3013] tpc not supported */
  tpc?: boolean
  /** how long to wait for the server to answer (default 15 s) */
  readyTimeoutMs?: number
}

const TOOLS: Record<string, string> = {
  xrootd: 'xrootd-server',
  xrdcp: 'xrootd-client',
  xrdfs: 'xrootd-client',
}

const running = new Set<ChildProcess>()
let exitHandlerInstalled = false

function which(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, name)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory: try the next one
    }
  }
  return null
}

/** Throws, naming the Debian package to install, when an XRootD tool is missing. */
export function requireXrootd(): void {
  const missing = Object.entries(TOOLS).filter(([tool]) => which(tool) === null)
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))]
    throw new Error(
      `XRootD tools missing (${missing.map(([tool]) => tool).join(', ')}): ` +
        `install the Debian package(s) ${packages.join(' ')} (scripts/install-peers.sh does it)`,
    )
  }
}

const isRoot = (): boolean => process.getuid?.() === 0

let xrootdIds: { uid: number; gid: number } | undefined
function xrootdUser(): { uid: number; gid: number } {
  if (!xrootdIds) {
    const id = (flag: string): number =>
      Number(execFileSync('id', [flag, 'xrootd'], { encoding: 'utf8' }).trim())
    xrootdIds = { uid: id('-u'), gid: id('-g') }
  }
  return xrootdIds
}

/** A port nothing listens on now (the netns makes a clash with other programs unlikely). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

function installExitHandler(): void {
  if (exitHandlerInstalled) return
  exitHandlerInstalled = true
  process.on('exit', () => {
    for (const proc of running) proc.kill('SIGKILL')
  })
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-lines).join('\n')
  } catch (err) {
    return `(no ${file}: ${(err as Error).message})`
  }
}

/** Starts one XRootD site and waits until it answers. */
export async function startXrootdSite(opts: XrootdSiteOptions): Promise<XrootdSite> {
  requireXrootd()
  const xrdcp = which('xrdcp')!
  const siteDir = path.resolve(opts.baseDir, opts.name)
  const dataDir = path.join(siteDir, 'data')
  const runDir = path.join(siteDir, 'run')
  const logDir = path.join(siteDir, 'logs')
  const cfgFile = path.join(siteDir, 'xrootd.cfg')
  // xrootd -l X/xrootd.log writes to X/<instance name>/xrootd.log
  const logFile = path.join(logDir, opts.name, 'xrootd.log')
  const outFile = path.join(logDir, 'xrootd.out')
  const port = opts.port ?? (await freePort())
  const tpc = opts.tpc ?? true

  for (const dir of [dataDir, runDir, logDir]) await mkdir(dir, { recursive: true })
  const cfg = [
    `xrd.port ${port}`,
    'all.export /',
    `oss.localroot ${dataDir}`,
    `all.adminpath ${runDir}`,
    `all.pidpath ${runDir}`,
    'xrootd.chksum adler32',
    // an absolute pgm and --server, or TPC fails (storage-lab.md); autorm removes what a failed TPC left
    ...(tpc ? [`ofs.tpc autorm pgm ${xrdcp} --server`] : []),
    '',
  ].join('\n')
  await writeFile(cfgFile, cfg)
  if (isRoot()) {
    // the server runs as user xrootd: it must reach its directories through the base directory
    // (a mkdtemp directory is mode 0700)
    await chmod(path.resolve(opts.baseDir), 0o755)
    execFileSync('chown', ['-R', 'xrootd:xrootd', siteDir])
  }

  let proc: ChildProcess | undefined
  const site: XrootdSite = {
    name: opts.name,
    port,
    url: `root://127.0.0.1:${port}`,
    dataDir,
    stop: async () => {
      const p = proc
      proc = undefined
      if (!p) return
      if (p.exitCode === null && p.signalCode === null) {
        const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
        p.kill('SIGTERM')
        await exited
      }
      running.delete(p)
    },
    restart: async () => {
      await site.stop()
      proc = await launch()
    },
  }

  const launch = async (): Promise<ChildProcess> => {
    installExitHandler()
    const out = await open(outFile, 'a')
    const xrootdArgs = ['-c', cfgFile, '-l', path.join(logDir, 'xrootd.log'), '-n', opts.name]
    const setpriv = which('setpriv')
    let file: string
    let args: string[]
    if (setpriv) {
      // setpriv drops to user xrootd (xrootd refuses to run as root) and makes the server die with this
      // process even when it is SIGKILLed; the death signal survives the uid change because setpriv sets it last
      const asXrootd = isRoot() ? ['--reuid=xrootd', '--regid=xrootd', '--init-groups'] : []
      file = setpriv
      args = [...asXrootd, '--pdeathsig', 'KILL', '--', 'xrootd', ...xrootdArgs]
    } else {
      file = 'xrootd'
      args = isRoot() ? ['-R', 'xrootd', ...xrootdArgs] : xrootdArgs
    }
    const p = spawn(file, args, { stdio: ['ignore', out.fd, out.fd] })
    await out.close()
    running.add(p)
    p.once('exit', () => running.delete(p))
    try {
      await waitReady(p, site.url, opts.readyTimeoutMs ?? 15_000)
    } catch (err) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
      running.delete(p)
      const logs = `--- ${outFile}\n${await tail(outFile)}\n--- ${logFile}\n${await tail(logFile)}`
      throw new Error(`XRootD site ${opts.name} on port ${port}: ${(err as Error).message}\n${logs}`)
    }
    return p
  }

  proc = await launch()
  return site
}

async function waitReady(proc: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`xrootd exited (code ${proc.exitCode}, signal ${proc.signalCode}) before answering`)
    }
    const r = await runChild('xrdfs', [url, 'query', 'config', 'version'], {
      timeoutMs: 5_000,
      env: { XRD_CONNECTIONRETRY: '1' },
    })
    if (r.code === 0) return
    last = r.stderr.trim()
    if (Date.now() >= deadline) throw new Error(`not ready after ${timeoutMs} ms (last probe: ${last})`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** The local path of `lfn` inside a site. */
export function sitePath(site: XrootdSite, lfn: string): string {
  return path.join(site.dataDir, lfn)
}

/** Writes a file into a site directly, owned by the server's user, as a job would have left it. */
export async function putFile(site: XrootdSite, lfn: string, data: Buffer): Promise<void> {
  const file = sitePath(site, lfn)
  const dir = path.dirname(file)
  await mkdir(dir, { recursive: true })
  await writeFile(file, data)
  if (isRoot()) {
    const { uid, gid } = xrootdUser()
    // the new parents and the file: the server must be able to write there (e.g. remove the file)
    for (let d = dir; d.startsWith(site.dataDir) && d.length >= site.dataDir.length; d = path.dirname(d)) {
      await chown(d, uid, gid)
    }
    await chown(file, uid, gid)
  }
}
