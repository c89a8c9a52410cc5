/**
 * inject: files per second accepted (validated and stored) by
 *   (a) POST /api/v1/transfers of the real API on a loopback socket (insecure-dev, in this process), 1,000
 *       requests per call, sent one call after another by Node's fetch, and
 *   (b) `aso inject FILE.jsonl`, the built CLI as a child process on the local SQLite store, spawn to exit.
 * Baseline: the same requests validated and stored by store.inject in batches of 1,000 in this process (the
 * floor: validation and storage without HTTP or CLI). Alternating runs, median of 3, each on a fresh store;
 * after each, the store must hold exactly the files sent.
 */
import { rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import Database from 'better-sqlite3'
import { loadConfig } from '../src/config/load.js'
import type { Identity } from '../src/domain/identity.js'
import { validateRequest } from '../src/domain/request.js'
import { SiteCatalog } from '../src/sites/catalog.js'
import { requestContext } from '../src/sites/request-context.js'
import { openStore } from '../src/store/open.js'
import type { InjectItem } from '../src/store/ops/inject.js'
import { startTestApi } from '../test/support/api.js'
import { type FileLab, makeFileLab } from '../test/support/file-sites.js'
import { runCli } from './support/cli.js'
import { type Figures, median } from './support/report.js'

const BATCH = 1000
const USER = 'alice'
/** alice as the API's insecure-dev header and the local CLI (ASO_USER) make her from the lab's config */
const ALICE: Identity = { name: USER, role: 'user', groups: ['cms'], vomsRoles: [] }

/** Requests of the shape the API tests send (test/integration/api-authz.test.ts), one task per batch. */
function requests(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    user: USER,
    task: `bench-inject-${Math.floor(i / BATCH)}`,
    jobId: `f${i}`,
    source: 'SITE_A',
    sourceLfn: `/store/temp/user/${USER}.abc/f${i}.root`,
    destination: 'SITE_B',
    destinationLfn: `/store/user/${USER}/f${i}.root`,
    size: 1000 + i,
    checksums: { adler32: (i + 1).toString(16).padStart(8, '0') },
  }))
}

function batches<T>(xs: T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += BATCH) out.push(xs.slice(i, i + BATCH))
  return out
}

/** The lab of the API tests: two file:// sites, alice of group cms, SQLite in a temp dir. */
const newLab = () => makeFileLab({ config: { users: { [USER]: { groups: ['cms'] } } } })

/** Counts the rows themselves (not a rollup): a benchmark that stored nothing must not report a rate. */
function checkStored(lab: FileLab, n: number, what: string): void {
  const db = new Database(path.join(lab.dir, 'aso.db'), { readonly: true })
  try {
    const { c } = db.prepare('select count(*) as c from transfers').get() as { c: number }
    if (c !== n) throw new Error(`${what}: the store holds ${c} records, not ${n}`)
  } finally {
    db.close()
  }
}

/** The floor: validateRequest + store.inject per batch of 1,000, no HTTP, no process. */
async function floor(raws: Record<string, unknown>[]): Promise<number> {
  const lab = await newLab()
  try {
    const { config } = loadConfig({ path: lab.configPath })
    const store = await openStore(config.database)
    const ctx = requestContext(config, new SiteCatalog(config), ALICE)
    const t0 = performance.now()
    for (const batch of batches(raws)) {
      const items: InjectItem[] = batch.map((raw) => {
        const v = validateRequest(raw, ctx)
        if (!v.ok) throw new Error(`floor: invalid request: ${JSON.stringify(v.errors)}`)
        return { id: v.id, request: v.request }
      })
      const stored = await store.inject(items, {
        now: Date.now(),
        actor: 'bench',
        maxAttempts: config.retry.maxAttempts,
      })
      if (stored.some((r) => r.status !== 'created')) throw new Error('floor: a request was not created')
    }
    const seconds = (performance.now() - t0) / 1000
    await store.close()
    checkStored(lab, raws.length, 'store.inject')
    return raws.length / seconds
  } finally {
    await rm(lab.dir, { recursive: true, force: true })
  }
}

/** POST /api/v1/transfers on a real socket, one batch after another. */
async function http(raws: Record<string, unknown>[]): Promise<number> {
  const lab = await newLab()
  try {
    const api = await startTestApi(lab.configPath, { insecureDev: true })
    let seconds: number
    try {
      // bodies made before the clock, as the CLI's file is: the figure is what the server accepts
      const bodies = batches(raws).map((b) => JSON.stringify(b))
      const t0 = performance.now()
      for (const body of bodies) {
        const res = await fetch(`${api.url}/api/v1/transfers`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-aso-user': USER },
          body,
        })
        const json = (await res.json()) as { results?: { status: string }[] }
        if (res.status !== 200 || json.results?.some((r) => r.status !== 'created')) {
          throw new Error(`POST /transfers answered ${res.status}: ${JSON.stringify(json).slice(0, 500)}`)
        }
      }
      seconds = (performance.now() - t0) / 1000
    } finally {
      await api.close()
    }
    checkStored(lab, raws.length, 'POST /transfers')
    return raws.length / seconds
  } finally {
    await rm(lab.dir, { recursive: true, force: true })
  }
}

/** `aso inject FILE.jsonl` with --config/--db, spawn to exit. */
async function cli(raws: Record<string, unknown>[]): Promise<number> {
  const lab = await newLab()
  try {
    const file = path.join(lab.dir, 'requests.jsonl')
    await writeFile(file, `${raws.map((r) => JSON.stringify(r)).join('\n')}\n`)
    const db = `sqlite:${path.join(lab.dir, 'aso.db')}`
    // the schema made before the clock, as for the other two: the figure is the inject, not the migrations
    await (await openStore(db)).close()
    const run = await runCli(['--config', lab.configPath, '--db', db, 'inject', file], { ASO_USER: USER })
    if (run.code !== 0) throw new Error(`aso inject exited ${run.code}: ${run.stderr.slice(0, 500)}`)
    const created = run.stdout.match(/^line \d+: created /gm)?.length ?? 0
    if (created !== raws.length) throw new Error(`aso inject printed ${created} created lines`)
    checkStored(lab, raws.length, 'aso inject')
    return raws.length / (run.ms / 1000)
  } finally {
    await rm(lab.dir, { recursive: true, force: true })
  }
}

export async function benchInject(opts: {
  log(line: string): void
  files?: number
  runs?: number
}): Promise<Figures> {
  const n = opts.files ?? 20_000
  const raws = requests(n)
  const base: number[] = []
  const viaHttp: number[] = []
  const viaCli: number[] = []
  // alternate, so machine noise hits every side alike
  for (let r = 0; r < (opts.runs ?? 3); r++) {
    base.push(await floor(raws))
    viaHttp.push(await http(raws))
    viaCli.push(await cli(raws))
    opts.log(
      `  run ${r + 1}: HTTP ${viaHttp.at(-1)!.toFixed(0)} files/s, CLI ${viaCli.at(-1)!.toFixed(0)} files/s, floor ${base.at(-1)!.toFixed(0)} files/s`,
    )
  }
  const runs = `median of ${base.length}; baseline: validateRequest + store.inject per 1,000, in process`
  return {
    'inject.http.batch1000': {
      value: median(viaHttp),
      unit: 'files/s',
      baseline: median(base),
      better: 'higher',
      note: `${n} requests, POST /api/v1/transfers ×${n / BATCH} of 1,000 by fetch, one at a time, SQLite; ${runs}`,
    },
    'inject.cli': {
      value: median(viaCli),
      unit: 'files/s',
      baseline: median(base),
      better: 'higher',
      note: `aso inject of a ${n}-line JSONL file (stored 10,000 per call), spawn to exit (node start included), SQLite; ${runs}`,
    },
  }
}
