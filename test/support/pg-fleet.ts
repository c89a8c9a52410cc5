/**
 * Several `aso serve` processes on one PostgreSQL (test/e2e/multi-agent.test.ts, postgres-restart.test.ts):
 * file:// sites (and optionally two real XRootD sites) with an aso.yaml naming the database, requests
 * injected with the CLI, agents started, SIGKILLed and restarted by slot, and the checks every such run ends
 * with: each file DONE once on its first attempt in one engine job, intact, its source cleaned, no partial
 * copy left, and no link over its limit (the history replayed in commit order).
 */
import { execFile } from 'node:child_process'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { adler32 } from 'hash-wasm'
import pg from 'pg'
import { stringify } from 'yaml'
import { allowedEdges, type TransferState } from '../../src/domain/states.js'
import { openStore } from '../../src/store/open.js'
import type { Store } from '../../src/store/store.js'
import { CLI, cliEnv, ensureStopped, type ServeProcess, startServe } from './crash-agents.js'
import { type FileLab, makeFileLab, testBytes } from './file-sites.js'
import { replayLinks } from './link-history.js'
import type { TestPostgres } from './postgres.js'
import { putFile, sitePath, type XrootdSite } from './xrootd.js'

const execFileP = promisify(execFile)

export const AGENT_TIMINGS = {
  submitInterval: '100ms',
  pollInterval: '1s',
  retryInterval: '100ms',
  cleanInterval: '200ms',
  reapInterval: '300ms',
  heartbeatInterval: '250ms',
  // a dead agent on this host is found by its pid at once; the lease is the backstop, long enough that an
  // agent starved of CPU on this 2-core machine (three agents, PostgreSQL, XRootD) is not declared dead
  lease: '5s',
  submitTimeout: '3s',
  shutdownGrace: '10s',
}

export interface PlannedFile {
  id: string
  user: string
  link: string
  /** where the copy must end up, and what it must hold */
  destination: string
  size: number
  adler32: string
  source: string
}

export interface PgLab {
  lab: FileLab
  url: string
  configPath: string
  files: PlannedFile[]
  xroot: { A: XrootdSite; B: XrootdSite } | null
  /** counts straight from the database (the agents' own view) */
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>
  /** a new connection for `query` (after the server restarted) */
  reconnect(): Promise<void>
  close(): Promise<void>
}

/** A job output of a few KB to ~100 KB, log-uniform, from the file's index. */
function sizeOf(i: number): number {
  return Math.round(2048 * 50 ** (((i * 7919) % 1000) / 1000))
}

/**
 * Lays out the lab: file:// sites SITE_A → SITE_B with `fileCount` outputs (users alice and bob, then a few for
 * carol injected last), `xrootCount` outputs XRD_A → XRD_B when XRootD sites are given; writes aso.yaml with
 * `database: url` and injects everything through `aso inject`.
 */
export async function makePgLab(opts: {
  server: TestPostgres
  database: string
  fileCount: number
  carolCount?: number
  xroot?: { A: XrootdSite; B: XrootdSite }
  xrootCount?: number
  links: Record<string, { maxActive: number; maxFilesPerJob?: number }>
}): Promise<PgLab> {
  const url = await opts.server.createDatabase(opts.database)
  const sites = ['SITE_A', 'SITE_B']
  const lab = await makeFileLab({ sites })
  const xroot = opts.xroot ?? null
  const config = {
    database: url,
    sites: {
      ...Object.fromEntries(
        sites.map((s) => [s, { protocols: [{ scheme: 'file', prefix: path.join(lab.sitesDir, s) }] }]),
      ),
      ...(xroot
        ? {
            XRD_A: { protocols: [{ scheme: 'root', prefix: `${xroot.A.url}/` }] },
            XRD_B: { protocols: [{ scheme: 'root', prefix: `${xroot.B.url}/` }] },
          }
        : {}),
    },
    links: opts.links,
    local: { maxConcurrent: 8, xrootParallel: 10 },
    retry: { maxAttempts: 3, backoff: { initial: '200ms', factor: 2, max: '1s', jitter: 0 } },
    agent: AGENT_TIMINGS,
  }
  await writeFile(lab.configPath, stringify(config))

  const planned: Omit<PlannedFile, 'id'>[] = []
  const lines: string[] = []
  const carol = opts.carolCount ?? 0
  for (let i = 0; i < opts.fileCount + carol; i++) {
    const user = i >= opts.fileCount ? 'carol' : i % 3 === 0 ? 'bob' : 'alice'
    const name = `out_${String(i).padStart(5, '0')}.root`
    const written = await lab.writeOutput(
      'SITE_A',
      `/store/temp/user/${user}.abc/${name}`,
      testBytes(sizeOf(i), i + 1),
    )
    planned.push({
      user,
      link: 'SITE_A->SITE_B',
      destination: lab.path('SITE_B', `/store/user/${user}/${name}`),
      source: lab.path('SITE_A', `/store/temp/user/${user}.abc/${name}`),
      ...written,
    })
    lines.push(
      JSON.stringify(
        lab.request({
          user,
          source: 'SITE_A',
          destination: 'SITE_B',
          name,
          task: `task-${user}`,
          ...written,
        }),
      ),
    )
  }
  if (xroot) {
    for (let i = 0; i < (opts.xrootCount ?? 0); i++) {
      const user = 'dave'
      const name = `x_${String(i).padStart(4, '0')}.root`
      const data = testBytes(sizeOf(i * 13), 10_000 + i)
      const sourceLfn = `/store/temp/user/${user}.abc/${name}`
      await putFile(xroot.A, sourceLfn, data)
      const written = { size: data.length, adler32: await adler32(data) }
      planned.push({
        user,
        link: 'XRD_A->XRD_B',
        destination: sitePath(xroot.B, `/store/user/${user}/${name}`),
        source: sitePath(xroot.A, sourceLfn),
        ...written,
      })
      lines.push(
        JSON.stringify(
          lab.request({
            user,
            source: 'XRD_A',
            destination: 'XRD_B',
            name,
            task: `task-${user}`,
            ...written,
          }),
        ),
      )
    }
  }
  const jsonl = path.join(lab.dir, 'requests.jsonl')
  await writeFile(jsonl, `${lines.join('\n')}\n`)
  // the schema first, as an operator upgrading would, then the requests
  await execFileP(process.execPath, [CLI, '--config', lab.configPath, 'db', 'migrate'], { env: cliEnv() })
  const injected = await execFileP(
    process.execPath,
    [CLI, '--config', lab.configPath, 'inject', '--json', jsonl],
    {
      maxBuffer: 64 << 20,
      env: cliEnv(),
    },
  )
  const files: PlannedFile[] = []
  for (const text of injected.stdout.trim().split('\n')) {
    const r = JSON.parse(text) as { line: number; id: string | null; status: string }
    if (r.status !== 'created') throw new Error(`inject line ${r.line}: ${text}`)
    files.push({ id: r.id!, ...planned[r.line - 1]! })
  }
  let client = new pg.Client({ connectionString: url })
  await client.connect()
  // a restart cuts this connection too: without a listener its error would end the test process
  const ignoreErrors = () => undefined
  client.on('error', ignoreErrors)
  return {
    lab,
    url,
    configPath: lab.configPath,
    files,
    xroot,
    async query<T extends pg.QueryResultRow>(sql: string) {
      return (await client.query<T>(sql)).rows
    },
    async reconnect() {
      await client.end().catch(() => undefined)
      client = new pg.Client({ connectionString: url })
      client.on('error', ignoreErrors)
      await client.connect()
    },
    async close() {
      await client.end().catch(() => undefined)
      if (!process.env.ASO_PG_KEEP) await rm(lab.dir, { recursive: true, force: true })
    },
  }
}

/** Agents by slot: each slot has one live `aso serve` at a time; every life is remembered. */
export class Fleet {
  readonly lives: ServeProcess[] = []
  readonly slots: ServeProcess[] = []

  constructor(private readonly lab: PgLab) {}

  start(slot: number): ServeProcess {
    const p = startServe({
      configPath: this.lab.configPath,
      logPath: path.join(this.lab.lab.dir, `serve-${slot}-${this.lives.length}.log`),
      index: this.lives.length,
    })
    this.lives.push(p)
    this.slots[slot] = p
    return p
  }

  /** Whether a life has written its heartbeat row. */
  async registered(p: ServeProcess): Promise<boolean> {
    const rows = await this.lab.query<{ n: string }>(
      `select count(*) as n from agents where pid = ${p.pid} and started_at >= ${p.spawnAt}`,
    )
    return Number(rows[0]?.n ?? 0) > 0
  }

  /** SIGTERM to every live agent; resolves with their exits. */
  async stopAll(timeoutMs = 30_000): Promise<({ code: number | null; signal: string | null } | string)[]> {
    const live = this.slots.filter((p) => p.exitAt === null)
    for (const p of live) process.kill(p.pid, 'SIGTERM')
    return Promise.all(
      live.map((p) => {
        let timer: NodeJS.Timeout | undefined
        return Promise.race([
          p.exited,
          new Promise<string>((r) => {
            timer = setTimeout(() => r(`still running ${timeoutMs} ms after SIGTERM`), timeoutMs)
          }),
        ]).finally(() => clearTimeout(timer))
      }),
    )
  }

  async killAll(): Promise<void> {
    for (const p of this.lives) await ensureStopped(p)
  }
}

/** Files not yet finished (terminal and their source clean-up done). */
export async function unfinished(lab: PgLab): Promise<number> {
  const rows = await lab.query<{ n: string }>(
    `select count(*) as n from transfers where state not in ('DONE', 'FAILED', 'KILLED') or source_cleanup = 'PENDING'`,
  )
  return Number(rows[0]?.n ?? 0)
}

export async function failedOrKilled(lab: PgLab): Promise<number> {
  const rows = await lab.query<{ n: string }>(
    `select count(*) as n from transfers where state in ('FAILED', 'KILLED')`,
  )
  return Number(rows[0]?.n ?? 0)
}

async function filesUnder(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true, withFileTypes: true })
  return names.filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name))
}

export interface RunChecks {
  problems: string[]
  /** files taken over from a dead agent (history rows) */
  takeovers: number
  peaks: Map<string, number>
  /** when each user's last file became DONE (ms epoch) */
  lastDoneByUser: Map<string, number>
  /** when half of all files were DONE */
  halfDoneAt: number
}

/**
 * The end-of-run checks. Every file: DONE, attempt 1, claimed once (one engine job per attempt: a crash costs
 * no new job, the successor resubmits the same id), its history along the transition table, the destination
 * intact, the source removed; no `.aso-part` file anywhere; every link within its limit in commit order.
 */
export async function checkRun(lab: PgLab, limits: Record<string, number>): Promise<RunChecks> {
  const problems: string[] = []
  const edges = allowedEdges()
  let takeovers = 0
  const doneAt: number[] = []
  const lastDoneByUser = new Map<string, number>()
  const store: Store = await openStore(lab.url, { log: { warn() {}, info() {} } })
  try {
    const records = new Map((await store.getMany(lab.files.map((f) => f.id))).map((r) => [r.id, r]))
    for (const f of lab.files) {
      const bad = (what: string) => problems.push(`${f.id} (${path.basename(f.destination)}): ${what}`)
      const rec = records.get(f.id)
      if (!rec) {
        bad('no record')
        continue
      }
      if (rec.state !== 'DONE') bad(`ended ${rec.state} (${rec.failureReason})`)
      if (rec.attempt !== 1) bad(`attempt ${rec.attempt}`)
      if (rec.sourceCleanup !== 'DONE') bad(`source clean-up ${rec.sourceCleanup}`)
      let state: TransferState | null = null
      let claims = 0
      let job: string | null = null
      for (const e of await store.history(f.id)) {
        const where = `event ${e.id} ${e.from}->${e.to} by ${e.actor} (${e.reason})`
        if (e.from !== null && e.from !== state) bad(`${where}: the record was ${state}`)
        if (e.from !== null && e.from !== e.to && !edges.has(`${e.from}->${e.to}`))
          bad(`${where}: not allowed`)
        if (e.to === 'RETRY') bad(`${where}: a retry was charged`)
        if (e.from === 'NEW' && e.to === 'SUBMITTING') {
          claims++
          job = e.engineJobId
        }
        if (/^taken over by agent/.test(e.reason)) takeovers++
        if (e.to === 'DONE' && e.from !== 'DONE') {
          doneAt.push(e.at)
          lastDoneByUser.set(f.user, Math.max(lastDoneByUser.get(f.user) ?? 0, e.at))
        }
        state = e.to
      }
      if (claims !== 1) bad(`claimed ${claims} times: each attempt must run in exactly one engine job`)
      if (rec.engineJobId !== job) bad(`record in engine job ${rec.engineJobId}, its claim was ${job}`)
      try {
        const data = await readFile(f.destination)
        const sum = await adler32(data)
        if (data.length !== f.size || sum !== f.adler32)
          bad(`destination ${data.length} bytes adler32 ${sum}; want ${f.size} ${f.adler32}`)
      } catch (e) {
        bad(`destination unreadable: ${(e as Error).message}`)
      }
      try {
        await readFile(f.source)
        bad('temporary source still there')
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') bad(`source: ${(e as Error).message}`)
      }
    }
    const jobs = await lab.query<{ state: string; n: string }>(
      'select state, count(*) as n from engine_jobs group by state',
    )
    for (const j of jobs) if (j.state !== 'FINISHED') problems.push(`${j.n} engine jobs ended ${j.state}`)
  } finally {
    await store.close()
  }
  const roots = [lab.lab.sitesDir, ...(lab.xroot ? [lab.xroot.A.dataDir, lab.xroot.B.dataDir] : [])]
  for (const root of roots) {
    for (const f of await filesUnder(root))
      if (f.includes('.aso-part')) problems.push(`partial copy left: ${f}`)
  }
  const replay = await replayLinks(lab.url)
  for (const [link, peak] of replay.peaks) {
    const limit = limits[link] ?? limits.default ?? Number.POSITIVE_INFINITY
    if (peak > limit) problems.push(`link ${link}: ${peak} files in flight at once, its limit is ${limit}`)
  }
  doneAt.sort((a, b) => a - b)
  return {
    problems,
    takeovers,
    peaks: replay.peaks,
    lastDoneByUser,
    halfDoneAt: doneAt[Math.floor(doneAt.length / 2)] ?? 0,
  }
}
