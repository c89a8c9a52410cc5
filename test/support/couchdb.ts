/**
 * A CouchDB-compatible peer for the CouchDB bridge's tests: pouchdb-server (a devDependency, on LevelDOWN) on a
 * loopback port with its own data directory. `restart()` stops it and starts it again on the same port and
 * data (what a CouchDB restart is to its clients); `kill()` SIGKILLs it. Readiness is polled, never slept on.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { freePort } from './xrootd.js'

const BIN = fileURLToPath(new URL('../../node_modules/pouchdb-server/bin/pouchdb-server', import.meta.url))

export interface CouchServer {
  url: string
  port: number
  dir: string
  /** a JSON call to the server; the parsed answer and status */
  call<T = Record<string, unknown>>(
    method: string,
    urlPath: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }>
  createDb(name: string): Promise<void>
  /** stops (SIGTERM) and starts again on the same port and data directory */
  restart(): Promise<void>
  stop(): Promise<void>
  /** stops and removes the data directory */
  destroy(): Promise<void>
}

export async function startCouch(opts: { dir?: string } = {}): Promise<CouchServer> {
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'aso-couch-')))
  await mkdir(dir, { recursive: true })
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  let child: ChildProcess | null = null
  let log = ''

  const call = async <T = Record<string, unknown>>(method: string, urlPath: string, body?: unknown) => {
    const res = await request(`${url}${urlPath}`, {
      method: method as 'GET',
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.body.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON
    }
    return { status: res.statusCode, body: parsed as T }
  }

  const start = async () => {
    log = ''
    const c = spawn(
      process.execPath,
      [
        BIN,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--dir',
        dir,
        '--config',
        path.join(dir, 'config.json'),
        '--no-stdout-logs',
      ],
      { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    c.stdout?.on('data', (d) => {
      log = (log + d).slice(-4000)
    })
    c.stderr?.on('data', (d) => {
      log = (log + d).slice(-4000)
    })
    child = c
    const until = Date.now() + 30_000
    for (;;) {
      if (c.exitCode !== null) throw new Error(`pouchdb-server exited (${c.exitCode}): ${log}`)
      try {
        const r = await call('GET', '/')
        if (r.status === 200) return
      } catch {
        // not listening yet
      }
      if (Date.now() > until) throw new Error(`pouchdb-server did not answer within 30 s: ${log}`)
      await new Promise((r) => setTimeout(r, 50))
    }
  }

  const stop = async () => {
    const c = child
    child = null
    if (!c || c.exitCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    c.kill('SIGTERM')
    const timer = setTimeout(() => c.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }

  await start()
  return {
    url,
    port,
    dir,
    call,
    async createDb(name) {
      const r = await call('PUT', `/${name}`)
      if (r.status !== 201 && r.status !== 412)
        throw new Error(`PUT /${name}: ${r.status} ${JSON.stringify(r.body)}`)
    },
    async restart() {
      await stop()
      await start()
    },
    stop,
    async destroy() {
      await stop()
      await rm(dir, { recursive: true, force: true })
    },
  }
}
