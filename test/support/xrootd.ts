/**
 * Real XRootD servers for tests (docs/storage-notes.md §1): one foreground `xrootd` per site on a free
 * loopback port, owned by the test process. Run the tests inside a private network namespace (scripts/test.sh).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { chmod, chown, copyFile, mkdir, open, readdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import path from 'node:path'
import { findOnPath, runChild } from '../../src/storage/child-process.js'
import type { TestPki } from './pki.js'

export interface XrootdSite {
  name: string
  port: number
  /** root://127.0.0.1:PORT */
  url: string
  /** the site's oss.localroot */
  dataDir: string
  /** with `https`: the XrdHttp port (WebDAV, and HTTP-TPC unless `tpc: false`) */
  httpsPort?: number
  /** with `https`: https://localhost:PORT (the host certificate is for localhost) */
  httpsUrl?: string
  /** the server's process id while it runs */
  readonly pid: number | undefined
  /**
   * how the server ended when it exited on its own (not by `stop`/`restart`): e.g. a SIGSEGV; null while it
   * runs or after a clean stop. Cleared by `restart`/`ensureRunning`.
   */
  readonly crash: XrootdCrash | null
  stop(): Promise<void>
  /** stops the server and starts it again on the same port */
  restart(): Promise<void>
  /** throws an error that says how the server died (signal, exit code, its last log lines) if it did */
  assertRunning(): Promise<void>
  /**
   * starts the server again if it died on its own, and says so with console.warn (never silently);
   * true when it had to. For a test's `beforeEach`, so one server crash does not fail every later test.
   */
  ensureRunning(): Promise<boolean>
}

/** An XRootD server that exited without being asked to. */
export interface XrootdCrash {
  pid: number | undefined
  code: number | null
  signal: NodeJS.Signals | null
  /** "the XRootD server of site B (pid 123, port 1094) crashed (SIGSEGV)" */
  message: string
  /** the last lines of the server's output and log, and the kernel's segfault line where readable */
  details: Promise<string>
}

export interface XrootdSiteOptions {
  name: string
  baseDir: string
  port?: number
  /** third-party copy enabled (default true); false makes a site that answers [3013] tpc not supported */
  tpc?: boolean
  /** how long to wait for the server to answer (default 15 s) */
  readyTimeoutMs?: number
  /**
   * also serve HTTPS (XrdHttp) with this PKI's host certificate, on `https.port` or a free port;
   * HTTP-TPC (COPY) is on when `tpc` is (docs/storage-notes.md §2: the TPC handler needs TLS)
   */
  https?: { pki: TestPki; port?: number }
  /**
   * a small disk: the directory `dir` of the site (e.g. `/store/user/erin`) is a tmpfs of `size` (e.g. `1m`)
   * mounted in the server's own mount namespace (`unshare -m`, so root only); writes past it fail with ENOSPC.
   * This process does not see that tmpfs: read what the server wrote there through the server.
   */
  smallDisk?: { dir: string; size: string }
  /** more configuration lines, appended after the generated ones (later directives win) */
  extraConfig?: readonly string[]
}

const TOOLS: Record<string, string> = {
  xrootd: 'xrootd-server',
  xrdcp: 'xrootd-client',
  xrdfs: 'xrootd-client',
}

const running = new Set<ChildProcess>()
let exitHandlerInstalled = false

/** Throws, naming the Debian package to install, when an XRootD tool is missing. */
export function requireXrootd(): void {
  const missing = Object.entries(TOOLS).filter(([tool]) => findOnPath(tool) === null)
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
  const xrdcp = findOnPath('xrdcp')!
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
  const httpsPort = opts.https ? (opts.https.port ?? (await freePort())) : undefined

  for (const dir of [dataDir, runDir, logDir]) await mkdir(dir, { recursive: true })
  if (opts.smallDisk) {
    if (!isRoot())
      throw new Error('an XRootD site with a small disk needs root (it mounts a tmpfs in unshare -m)')
    await mkdir(path.join(dataDir, opts.smallDisk.dir), { recursive: true })
  }
  const tlsLines = opts.https ? await httpsConfig(siteDir, opts.https.pki, httpsPort!, tpc) : []
  const cfg = [
    `xrd.port ${port}`,
    'all.export /',
    `oss.localroot ${dataDir}`,
    `all.adminpath ${runDir}`,
    `all.pidpath ${runDir}`,
    'xrootd.chksum adler32',
    // an absolute pgm and --server, or TPC fails (docs/storage-notes.md §1); autorm removes what a failed TPC left
    ...(tpc ? [`ofs.tpc autorm pgm ${xrdcp} --server`] : []),
    ...tlsLines,
    ...(opts.extraConfig ?? []),
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
  let crash: XrootdCrash | null = null
  const logs = async (): Promise<string> =>
    `--- ${outFile}\n${await tail(outFile)}\n--- ${logFile}\n${await tail(logFile)}`
  const site: XrootdSite = {
    name: opts.name,
    port,
    url: `root://127.0.0.1:${port}`,
    dataDir,
    ...(httpsPort ? { httpsPort, httpsUrl: `https://localhost:${httpsPort}` } : {}),
    get pid() {
      return proc?.pid
    },
    get crash() {
      return crash
    },
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
      crash = null
      await launch()
    },
    assertRunning: async () => {
      if (!crash) return
      throw new Error(`${crash.message}\n${await crash.details}`)
    },
    ensureRunning: async () => {
      if (!crash) return false
      const died = crash
      console.warn(`${died.message}; starting it again\n${await died.details}`)
      await site.restart()
      return true
    },
  }

  /** Notices the server dying on its own, says so at once, and keeps how for `crash`. */
  const watch = (p: ChildProcess): void => {
    p.once('exit', (code, signal) => {
      if (proc !== p) return // stopped on purpose (stop() forgets the process first)
      proc = undefined
      const how = signal ? `crashed (${signal})` : `exited with code ${code}`
      const message =
        `the XRootD server of site ${opts.name} (pid ${p.pid}, port ${port}` +
        `${httpsPort ? `, https ${httpsPort}` : ''}) ${how}`
      const details = (async () => `${await kernelLines(p.pid)}${await logs()}`)()
      crash = { pid: p.pid, code, signal, message, details }
      void details.then((d) => console.error(`${message}\n${d}`))
    })
  }

  const launch = async (): Promise<ChildProcess> => {
    installExitHandler()
    const out = await open(outFile, 'a')
    const xrootdArgs = ['-c', cfgFile, '-l', path.join(logDir, 'xrootd.log'), '-n', opts.name]
    const setpriv = findOnPath('setpriv')
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
    if (opts.smallDisk) {
      // unshare and sh exec what follows: the server keeps this child's pid (and setpriv's death signal)
      const { uid, gid } = xrootdUser()
      const mount = `mount -t tmpfs -o size=${opts.smallDisk.size},uid=${uid},gid=${gid},mode=0755 tmpfs "$0" && exec "$@"`
      args = ['-m', '--', 'sh', '-c', mount, path.join(dataDir, opts.smallDisk.dir), file, ...args]
      file = 'unshare'
    }
    const p = spawn(file, args, { stdio: ['ignore', out.fd, out.fd] })
    await out.close()
    running.add(p)
    p.once('exit', () => running.delete(p))
    try {
      await waitReady(p, site.url, opts.readyTimeoutMs ?? 15_000)
      if (httpsPort) await waitListening(p, httpsPort, opts.readyTimeoutMs ?? 15_000)
    } catch (err) {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
      running.delete(p)
      throw new Error(`XRootD site ${opts.name} on port ${port}: ${(err as Error).message}\n${await logs()}`)
    }
    proc = p
    watch(p)
    return p
  }

  await launch()
  return site
}

/** The kernel's line about a crashed process (`xrootd[pid]: segfault at … in lib…`), where dmesg is readable. */
async function kernelLines(pid: number | undefined): Promise<string> {
  if (pid === undefined) return ''
  // the kernel logs the segfault a moment after the process is gone
  await new Promise((resolve) => setTimeout(resolve, 200))
  // runChild reports a missing or failing dmesg as a result (code 127, 1), never throws
  const r = await runChild('dmesg', [], { timeoutMs: 2_000 })
  if (r.code !== 0) return ''
  const mine = r.stdout.split('\n').filter((l) => l.includes(`[${pid}]`))
  return mine.length > 0 ? `--- dmesg\n${mine.slice(-3).join('\n')}\n` : ''
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

/**
 * XrdHttp lines for a site (docs/storage-notes.md §2), after copying the host certificate, its key and the
 * CA directory into the site, where user xrootd can read them (the key mode 400, as XrdTls requires).
 */
async function httpsConfig(siteDir: string, pki: TestPki, port: number, tpc: boolean): Promise<string[]> {
  const pkiDir = path.join(siteDir, 'pki')
  const certDir = path.join(pkiDir, 'certificates')
  await mkdir(certDir, { recursive: true })
  const cert = path.join(pkiDir, 'hostcert.pem')
  const key = path.join(pkiDir, 'hostkey.pem')
  await copyFile(pki.host.certPath, cert)
  await copyFile(pki.host.keyPath, key)
  await chmod(key, 0o400)
  for (const name of await readdir(pki.caDir))
    await copyFile(path.join(pki.caDir, name), path.join(certDir, name))
  return [
    `xrd.protocol XrdHttp:${port} libXrdHttp.so`,
    // the TPC handler is only loaded when TLS is configured; without it COPY answers an error
    ...(tpc ? ['http.exthandler xrdtpc libXrdHttpTPC.so'] : []),
    `xrd.tls ${cert} ${key}`,
    `xrd.tlsca certdir ${certDir}`,
  ]
}

async function waitListening(proc: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(
        `xrootd exited (code ${proc.exitCode}, signal ${proc.signalCode}) before HTTPS answered`,
      )
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy()
        resolve(true)
      })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() >= deadline) throw new Error(`HTTPS port ${port} not listening after ${timeoutMs} ms`)
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
