import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdir, mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { adler32 } from 'hash-wasm'
import type { FileOutcome } from '../src/domain/outcome.js'
import { LocalEngine } from '../src/engines/local/engine.js'
import type { EngineFile } from '../src/engines/types.js'
import { acquireAdler32, releaseAdler32 } from '../src/storage/adler32.js'
import type { CopyMethod } from '../src/storage/copy-method.js'
import { eachLimit } from '../src/storage/each-limit.js'
import { sitePath, startXrootdSite } from '../test/support/xrootd.js'
import { benchHttpCopy } from './copy-http.js'
import { type Figures, median } from './support/report.js'

const sh = promisify(execFile)
const GiB = 2 ** 30

/** Writes a file of `size` pseudo-random bytes and returns its adler32 (4 MiB blocks of fresh data). */
async function writeSource(file: string, size: number): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true })
  const h = await acquireAdler32()
  const fh = await open(file, 'w')
  try {
    for (let left = size; left > 0; ) {
      const chunk = randomBytes(Math.min(left, 4 << 20))
      h.update(chunk)
      await fh.write(chunk)
      left -= chunk.length
    }
    return h.digest('hex')
  } finally {
    await fh.close()
    releaseAdler32(h)
  }
}

function file(i: number, src: string, dst: string, size: number, sum: string): EngineFile {
  return {
    transferId: `t${i}`,
    attempt: 1,
    submission: 1,
    task: 'bench',
    sources: [{ scheme: src.split(':')[0]!, url: src }],
    destinations: [{ scheme: dst.split(':')[0]!, url: dst }],
    size,
    adler32: sum,
    activity: 'bench',
    priority: 3,
    ownsDestination: false,
  }
}

/** Runs files through a fresh built-in engine (one job) and waits for every outcome; seconds. */
export async function engineCopy(files: EngineFile[], opts: { concurrency: number; methods?: CopyMethod[] }) {
  const engine = new LocalEngine({
    maxConcurrent: opts.concurrency,
    copyTimeoutMs: 3_600_000,
    batchSize: 25,
    ...(opts.methods ? { methods: opts.methods } : {}),
  })
  const t = performance.now()
  await engine.submit({
    id: 'bench',
    user: 'bench',
    group: null,
    role: null,
    source: 'A',
    destination: 'B',
    files,
    priority: 3,
    overwrite: true,
    maxActive: opts.concurrency,
  })
  const outcomes: FileOutcome[] = []
  for await (const o of engine.outcomes()) {
    outcomes.push(o)
    if (outcomes.length === files.length) break
  }
  const seconds = (performance.now() - t) / 1000
  await engine.close()
  const bad = outcomes.filter((o) => o.result !== 'done')
  if (bad.length) throw new Error(`bench copy failed: ${bad[0]!.reason}`)
  return seconds
}

/** The best plain loop for small files: read, adler32, write to a temporary name, fsync, rename. */
async function plainLoop(items: { src: string; dst: string; sum: string }[], concurrency: number) {
  const t = performance.now()
  await eachLimit(items, concurrency, async ({ src, dst, sum }) => {
    const { readFile } = await import('node:fs/promises')
    const data = await readFile(src)
    if ((await adler32(data)) !== sum) throw new Error('checksum')
    await mkdir(path.dirname(dst), { recursive: true })
    const tmp = `${dst}.tmp`
    const fh = await open(tmp, 'w')
    await fh.write(data)
    await fh.sync()
    await fh.close()
    await rename(tmp, dst)
  })
  return (performance.now() - t) / 1000
}

/**
 * copy: the built-in engine against tools doing the same work: one 1 GiB file file://→file:// against
 * cp + sync + xrdadler32, and 1,000 files of 10 KiB against the best plain loop (copy + adler32 + fsync + rename).
 */
export async function benchCopy(opts: { log(line: string): void }): Promise<Figures> {
  const dir = await mkdtemp(path.join(tmpdir(), 'aso-copy-'))
  // the XRootD servers run as user xrootd and must reach their directories under this one (mkdtemp: 0700)
  await chmod(dir, 0o755)
  const figures: Figures = {}
  try {
    const big = path.join(dir, 'A/big.root')
    const sum = await writeSource(big, GiB)
    const ours: number[] = []
    const base: number[] = []
    for (let r = 0; r < 3; r++) {
      const dst = path.join(dir, `B/big-${r}.root`)
      const t = performance.now()
      await sh('cp', [big, `${dst}.cp`]).catch(async () => {
        await mkdir(path.dirname(dst), { recursive: true })
        await sh('cp', [big, `${dst}.cp`])
      })
      await sh('sync')
      await sh('xrdadler32', [`${dst}.cp`])
      base.push((performance.now() - t) / 1000)
      await rm(`${dst}.cp`)
      ours.push(await engineCopy([file(r, `file://${big}`, `file://${dst}`, GiB, sum)], { concurrency: 1 }))
      await rm(dst)
      opts.log(
        `  1 GiB run ${r + 1}: engine ${ours.at(-1)!.toFixed(2)} s, cp+sync+xrdadler32 ${base.at(-1)!.toFixed(2)} s`,
      )
    }
    figures['copy.file.1GiB'] = {
      value: GiB / 1e6 / median(ours),
      unit: 'MB/s',
      baseline: GiB / 1e6 / median(base),
      better: 'higher',
      note: 'file:// to file://, adler32 verified; baseline: cp + sync + xrdadler32',
    }
    await rm(big)

    const items: { src: string; dst: string; sum: string }[] = []
    for (let i = 0; i < 1000; i++) {
      const data = randomBytes(10 * 1024)
      const src = path.join(dir, `A/small/f${i}`)
      await mkdir(path.dirname(src), { recursive: true })
      await writeFile(src, data)
      items.push({ src, dst: path.join(dir, `B/small/f${i}`), sum: await adler32(data) })
    }
    const oursSmall: number[] = []
    const baseSmall: number[] = []
    for (let r = 0; r < 3; r++) {
      baseSmall.push(
        await plainLoop(
          items.map((x) => ({ ...x, dst: `${x.dst}.plain${r}` })),
          8,
        ),
      )
      oursSmall.push(
        await engineCopy(
          items.map((x, i) => file(i, `file://${x.src}`, `file://${x.dst}.aso${r}`, 10 * 1024, x.sum)),
          { concurrency: 8 },
        ),
      )
      opts.log(
        `  1000×10KiB run ${r + 1}: engine ${oursSmall.at(-1)!.toFixed(2)} s, plain loop ${baseSmall.at(-1)!.toFixed(2)} s`,
      )
    }
    figures['copy.file.1000x10KiB'] = {
      value: 1000 / median(oursSmall),
      unit: 'files/s',
      baseline: 1000 / median(baseSmall),
      better: 'higher',
      note: '8 at a time; baseline: read + adler32 + write + fsync + rename loop, 8 at a time',
    }
    Object.assign(figures, await benchXrootTpc(dir, opts.log))
    const http = await benchHttpCopy({ log: opts.log })
    for (const [name, f] of Object.entries(http)) {
      figures[name.startsWith('http-tpc 1 GiB') ? 'copy.http-tpc.1GiB' : 'copy.http-tpc.1000x10KiB'] = f
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return figures
}

/** One 1 GiB file root:// → root:// by our xroot-tpc method against a bare `xrdcp --tpc only --cksum adler32`. */
async function benchXrootTpc(dir: string, log: (l: string) => void): Promise<Figures> {
  const a = await startXrootdSite({ name: 'A', baseDir: path.join(dir, 'xrd') })
  const b = await startXrootdSite({ name: 'B', baseDir: path.join(dir, 'xrd') })
  try {
    const lfn = '/store/temp/user/bench.x/big.root'
    const sum = await writeSource(sitePath(a, lfn), GiB)
    await sh('chown', ['-R', 'xrootd:xrootd', a.dataDir]).catch(() => undefined)
    const ours: number[] = []
    const base: number[] = []
    for (let r = 0; r < 3; r++) {
      const t = performance.now()
      await sh(
        'xrdcp',
        [
          '--nopbar',
          '--tpc',
          'only',
          '--cksum',
          'adler32',
          `${a.url}/${lfn}`,
          `${b.url}//store/user/bench/bare-${r}.root`,
        ],
        {
          env: { ...process.env, XRD_CONNECTIONRETRY: '1' },
        },
      )
      base.push((performance.now() - t) / 1000)
      ours.push(
        await engineCopy([file(r, `${a.url}/${lfn}`, `${b.url}//store/user/bench/aso-${r}.root`, GiB, sum)], {
          concurrency: 1,
        }),
      )
      log(
        `  xroot TPC 1 GiB run ${r + 1}: engine ${ours.at(-1)!.toFixed(2)} s, bare xrdcp ${base.at(-1)!.toFixed(2)} s`,
      )
    }
    return {
      'copy.xroot-tpc.1GiB': {
        value: GiB / 1e6 / median(ours),
        unit: 'MB/s',
        baseline: GiB / 1e6 / median(base),
        better: 'higher',
        note: 'root:// to root:// third-party copy, source and destination adler32 checked; baseline: xrdcp --tpc only --cksum adler32',
      },
    }
  } finally {
    await a.stop()
    await b.stop()
  }
}
