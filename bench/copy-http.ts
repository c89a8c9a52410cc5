/**
 * HTTP third-party copy against its alternatives, on two real XRootD servers that serve root:// and HTTPS
 * (docs/storage-notes.md §1-§2): (a) 1,000 small files by our `http-tpc` method against the same files by our
 * `xroot-tpc` method, both scheduled as the engine does (batches of 8, 16 at once); (b) one 1 GiB file by
 * `http-tpc` against a bare `curl -X COPY`. Run inside a private network namespace (the bench runner's).
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { Endpoint } from '../src/domain/endpoint.js'
import type { EngineFile } from '../src/engines/types.js'
import { acquireAdler32, releaseAdler32 } from '../src/storage/adler32.js'
import type { CopyMethod, CopyTask } from '../src/storage/copy-method.js'
import { HttpClients } from '../src/storage/http/http-client.js'
import { httpProtocolFor } from '../src/storage/http/http-protocol.js'
import { httpStreamFor } from '../src/storage/http/http-stream.js'
import { httpTpcFor } from '../src/storage/http/http-tpc.js'
import { xrootTpc } from '../src/storage/xroot/xroot-methods.js'
import { makeTestPki } from '../test/support/pki.js'
import { putFile, sitePath, startXrootdSite, type XrootdSite } from '../test/support/xrootd.js'

const sh = promisify(execFile)

/** What the engine does with the defaults: files per batch (`local.xrootParallel`), batches at once. */
const BATCH = 8
const BATCHES_AT_ONCE = 16
const SMALL_FILES = 1000
const SMALL_SIZE = 10 * 1024
const BIG_SIZE = 2 ** 30
const BIG_RUNS = 3

export interface HttpCopyFigure {
  value: number
  unit: string
  baseline: number
  better: 'higher' | 'lower'
  note?: string
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function task(
  i: number,
  source: Endpoint,
  destination: Endpoint,
  rec: { size: number; adler32: string },
): CopyTask {
  const file: EngineFile = {
    transferId: `b${i}`,
    attempt: 1,
    submission: 1,
    task: 'bench:http-copy',
    sources: [source],
    destinations: [destination],
    size: rec.size,
    adler32: rec.adler32,
    activity: 'user',
    priority: 3,
    ownsDestination: true,
  }
  return { file, source, destination, signal: new AbortController().signal }
}

/** Runs `tasks` as the engine would: batches of BATCH, BATCHES_AT_ONCE at a time; returns seconds and failures. */
async function runAsEngine(
  method: CopyMethod,
  tasks: CopyTask[],
): Promise<{ seconds: number; failed: string[] }> {
  const batches: CopyTask[][] = []
  for (let i = 0; i < tasks.length; i += BATCH) batches.push(tasks.slice(i, i + BATCH))
  const failed: string[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: BATCHES_AT_ONCE }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!
        await method.run(batch, { concurrency: batch.length, env: {} }, (_t, r) => {
          if (!r.ok) failed.push(r.reason)
        })
      }
    }),
  )
  return { seconds: (performance.now() - started) / 1000, failed }
}

/** Writes `size` bytes (4 MiB random blocks) into a site as user xrootd's file; returns its adler32. */
async function writeBig(site: XrootdSite, lfn: string, size: number): Promise<string> {
  // putFile makes the directories and the file, owned by the server's user; then fill it in place
  await putFile(site, lfn, Buffer.alloc(0))
  const h = await acquireAdler32()
  const fh = await open(sitePath(site, lfn), 'r+')
  try {
    const block = randomBytes(4 << 20)
    for (let left = size, i = 0; left > 0; i++) {
      // vary the blocks so no two are alike
      block.writeUInt32LE(i, 0)
      const chunk = block.subarray(0, Math.min(left, block.length))
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

/** HTTP-TPC against xroot TPC (1,000 small files) and against a bare curl COPY (1 GiB). */
export async function benchHttpCopy(opts: {
  log(line: string): void
}): Promise<Record<string, HttpCopyFigure>> {
  const base = await mkdtemp(path.join(tmpdir(), 'aso-bench-http-'))
  const pki = await makeTestPki(path.join(base, 'pki'))
  const [A, B] = await Promise.all([
    startXrootdSite({ name: 'BENCH_A', baseDir: base, https: { pki } }),
    startXrootdSite({ name: 'BENCH_B', baseDir: base, https: { pki } }),
  ])
  const clients = new HttpClients({ caDir: pki.caDir })
  const handler = httpProtocolFor(clients)
  const httpTpc = httpTpcFor(handler, httpStreamFor(handler))
  const davs = (s: XrootdSite, lfn: string): Endpoint => ({
    scheme: 'davs',
    url: `davs://localhost:${s.httpsPort}${lfn}`,
  })
  const root = (s: XrootdSite, lfn: string): Endpoint => ({ scheme: 'root', url: `${s.url}/${lfn}` })
  const figures: Record<string, HttpCopyFigure> = {}
  try {
    // (a) the same 1,000 small files, by each method, into separate directories of B
    opts.log(`copy-http: staging ${SMALL_FILES} files of ${SMALL_SIZE / 1024} KiB`)
    const recs: { lfn: string; size: number; adler32: string }[] = []
    for (let i = 0; i < SMALL_FILES; i++) {
      const lfn = `/store/temp/user/bench.1/small/f${i}.root`
      const data = randomBytes(SMALL_SIZE)
      await putFile(A, lfn, data)
      const h = await acquireAdler32()
      h.update(data)
      recs.push({ lfn, size: data.length, adler32: h.digest('hex') })
      releaseAdler32(h)
    }
    const name = (lfn: string) => path.posix.basename(lfn)
    const http = await runAsEngine(
      httpTpc,
      recs.map((r, i) => task(i, davs(A, r.lfn), davs(B, `/store/user/bench/http/${name(r.lfn)}`), r)),
    )
    opts.log(
      `copy-http: http-tpc ${SMALL_FILES} files in ${http.seconds.toFixed(1)} s, ${http.failed.length} failed`,
    )
    const xroot = await runAsEngine(
      xrootTpc,
      recs.map((r, i) => task(i, root(A, r.lfn), root(B, `/store/user/bench/xroot/${name(r.lfn)}`), r)),
    )
    opts.log(
      `copy-http: xroot-tpc ${SMALL_FILES} files in ${xroot.seconds.toFixed(1)} s, ${xroot.failed.length} failed`,
    )
    for (const reason of [...http.failed, ...xroot.failed].slice(0, 5))
      opts.log(`copy-http: failure: ${reason}`)
    figures['http-tpc 1000 small files'] = {
      value: SMALL_FILES / http.seconds,
      unit: 'files/s',
      baseline: SMALL_FILES / xroot.seconds,
      better: 'higher',
      note: `baseline: xroot-tpc (xrdcp --tpc --parallel ${BATCH}); verified adler32 each; failed ${http.failed.length}/${xroot.failed.length}`,
    }

    // (b) one 1 GiB file: our method (MKCOL, COPY, HEAD with the destination's adler32) against curl's COPY alone
    opts.log('copy-http: staging 1 GiB')
    const bigLfn = '/store/temp/user/bench.1/big/big.root'
    const big = { size: BIG_SIZE, adler32: await writeBig(A, bigLfn, BIG_SIZE) }
    const source = `https://localhost:${A.httpsPort}${bigLfn}`
    await sh('curl', [
      '-sS',
      '--cacert',
      pki.ca.certPath,
      '-X',
      'MKCOL',
      `${B.httpsUrl}/store/user/bench/big`,
    ])
    const ours: number[] = []
    const curl: number[] = []
    for (let run = 0; run < BIG_RUNS; run++) {
      const curlDst = `/store/user/bench/big/curl_${run}.root`
      let t = performance.now()
      const { stdout } = await sh('curl', [
        '-sS',
        '--cacert',
        pki.ca.certPath,
        '-X',
        'COPY',
        '-H',
        `Source: ${source}`,
        '-H',
        'Credential: none',
        `${B.httpsUrl}${curlDst}`,
      ])
      curl.push((performance.now() - t) / 1000)
      if (!/success:/.test(stdout.trim().split('\n').at(-1) ?? ''))
        throw new Error(`curl COPY failed: ${stdout}`)
      await rm(sitePath(B, curlDst), { force: true })

      const oursDst = `/store/user/bench/big/ours_${run}/big.root`
      t = performance.now()
      let result = ''
      await httpTpc.run(
        [task(run, { scheme: 'https', url: source }, davs(B, oursDst), big)],
        { concurrency: 1, env: {} },
        (_t, r) => {
          result = r.ok ? 'ok' : r.reason
        },
      )
      ours.push((performance.now() - t) / 1000)
      if (result !== 'ok') throw new Error(`http-tpc of 1 GiB failed: ${result}`)
      await rm(sitePath(B, oursDst), { force: true })
      opts.log(
        `copy-http: 1 GiB run ${run + 1}: curl COPY ${curl.at(-1)!.toFixed(2)} s, http-tpc ${ours.at(-1)!.toFixed(2)} s`,
      )
    }
    figures['http-tpc 1 GiB'] = {
      value: median(ours),
      unit: 's',
      baseline: median(curl),
      better: 'lower',
      note: `median of ${BIG_RUNS}; ours adds MKCOL and the destination's adler32 (HEAD Want-Digest); baseline: bare curl -X COPY`,
    }
    return figures
  } finally {
    await clients.close()
    await Promise.all([A.stop(), B.stop()])
    await rm(base, { recursive: true, force: true })
  }
}
