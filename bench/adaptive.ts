/**
 * `npm run bench -- adaptive`: the adaptive per-link limit (issue 18) against a fixed one on a throttled link
 * between two real XRootD servers. `tc` shapes, inside the benchmark's own network namespace, what leaves the
 * source server (htb at `RATE` with a short queue): a link whose best parallelism is not the operator's guess.
 * Each run is a fresh agent and database on the same servers, for the same time, with a backlog it cannot
 * finish; the figure is files delivered per second, the adaptive run (convergence included) against the fixed
 * limit an operator might have set.
 */
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { startTestAgent } from '../test/support/agent.js'
import { startXrootdSite, type XrootdSite } from '../test/support/xrootd.js'
import { outputRequest, stageOutput, tempLfn, writeXrootdConfig } from '../test/support/xrootd-lab.js'
import type { Figures } from './support/report.js'

const sh = promisify(execFile)

const RATE = '16mbit'
const FILE_SIZE = 1 << 20
const SOURCES = 16
const FIXED = 2
/** aso.yaml's default limit: the other guess */
const WIDE = 20
const BOUNDS = { startActive: FIXED, minActive: 1, maxActive: 48 }

/** Why tc cannot shape loopback here, or null when it can (it leaves the root qdisc in place). */
async function shapeSource(port: number): Promise<string | null> {
  const tc = (...args: string[]) => sh('tc', args)
  try {
    // Ethernet-sized packets: loopback's 64 KiB ones would make a short queue drop whole windows at once
    await sh('ip', ['link', 'set', 'lo', 'mtu', '1500'])
    await tc('qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1000')
    await tc('class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit')
    await tc(
      'class',
      'add',
      'dev',
      'lo',
      'parent',
      '1:',
      'classid',
      '1:20',
      'htb',
      'rate',
      RATE,
      'ceil',
      RATE,
    )
    // a short queue: past the link's capacity, more streams mean drops and retransmissions, not more bytes
    await tc('qdisc', 'add', 'dev', 'lo', 'parent', '1:20', 'handle', '20:', 'pfifo', 'limit', '100')
    await tc(
      ...['filter', 'add', 'dev', 'lo', 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'u32'],
      ...['match', 'ip', 'sport', String(port), '0xffff', 'flowid', '1:20'],
    )
    return null
  } catch (e) {
    await unshape()
    return `tc cannot shape loopback here (${(e as Error).message.split('\n')[0]}); run inside scripts/in-netns.sh as root`
  }
}

async function unshape(): Promise<void> {
  await sh('tc', ['qdisc', 'del', 'dev', 'lo', 'root']).catch(() => {
    // nothing was shaped
  })
  await sh('ip', ['link', 'set', 'lo', 'mtu', '65536']).catch(() => {
    // not ours to change (no namespace): left as it was
  })
}

interface RunResult {
  filesPerSecond: number
  /** files/s over the second half of the run: where the limit has settled */
  lateFilesPerSecond: number
  finalLimit: number
  changes: number
  /** the tuner's decisions, oldest first, as `from -> to: reason` */
  decisions: string[]
}

/** One agent on the link for `seconds`: files DONE per second, and the limit it ended with. */
async function runAgent(
  base: string,
  sites: Record<string, XrootdSite>,
  name: string,
  link: Record<string, unknown>,
  sources: { lfn: string; size: number; adler32: string }[],
  seconds: number,
): Promise<RunResult> {
  const dir = await mkdtemp(path.join(base, `${name}-`))
  const configPath = await writeXrootdConfig(dir, sites, {
    links: { 'XRD_A->XRD_B': { maxFilesPerJob: 4, ...link } },
    local: { maxConcurrent: 64, xrootParallel: 1 },
    cleanup: { deleteSourceOnDone: false },
    agent: { tuneInterval: '3s' },
  })
  const agent = await startTestAgent(configPath)
  try {
    const backlog = Math.ceil(seconds * 8)
    await agent.inject(
      Array.from({ length: backlog }, (_, i) => {
        const src = sources[i % sources.length]!
        return {
          ...outputRequest({
            user: 'alice',
            task: `bench-${name}`,
            source: 'XRD_A',
            destination: 'XRD_B',
            dir: name,
            name: `out_${i}.root`,
            size: src.size,
            adler32: src.adler32,
          }),
          sourceLfn: src.lfn,
        }
      }),
    )
    const doneNow = async () =>
      (await agent.store.counts()).filter((c) => c.state === 'DONE').reduce((n, c) => n + c.n, 0)
    const started = Date.now()
    await new Promise((r) => setTimeout(r, (seconds / 2) * 1000))
    const half = { at: Date.now(), done: await doneNow() }
    await new Promise((r) => setTimeout(r, (seconds / 2) * 1000))
    const elapsed = (Date.now() - started) / 1000
    const done = await doneNow()
    const settings = await agent.store.linkSettings()
    const limit = settings.find((s) => s.link === 'XRD_A->XRD_B')?.adaptiveActive ?? FIXED
    const decisions = (await agent.store.linkDecisions('XRD_A->XRD_B', 10_000)).reverse()
    return {
      filesPerSecond: done / elapsed,
      lateFilesPerSecond: (done - half.done) / ((Date.now() - half.at) / 1000),
      finalLimit: limit,
      changes: decisions.length,
      decisions: decisions.map(
        (d) => `${((d.at - started) / 1000).toFixed(0)} s ${d.from} -> ${d.to}: ${d.reason}`,
      ),
    }
  } finally {
    await agent.stop()
  }
}

export async function benchAdaptive(opts: { log(line: string): void; seconds: number }): Promise<Figures> {
  const base = await mkdtemp(path.join(tmpdir(), 'aso-bench-adaptive-'))
  const sites: XrootdSite[] = []
  try {
    const [A, B] = await Promise.all([
      startXrootdSite({ name: 'XRD_A', baseDir: base }),
      startXrootdSite({ name: 'XRD_B', baseDir: base }),
    ])
    sites.push(A, B)
    const why = await shapeSource(A.port)
    if (why) {
      opts.log(`  skipped: ${why}`)
      return {}
    }
    const sources = []
    for (let i = 0; i < SOURCES; i++) {
      const lfn = tempLfn('alice', 'src', `src_${i}.root`)
      sources.push({ lfn, ...(await stageOutput(A, lfn, randomBytes(FILE_SIZE))) })
    }
    const all = { XRD_A: A, XRD_B: B }
    const fixed = await runAgent(base, all, 'fixed', { maxActive: FIXED }, sources, opts.seconds)
    const line = (r: RunResult) =>
      `${r.filesPerSecond.toFixed(2)} files/s (second half ${r.lateFilesPerSecond.toFixed(2)})`
    opts.log(`  fixed maxActive ${FIXED}: ${line(fixed)}`)
    const wide = await runAgent(base, all, 'wide', { maxActive: WIDE }, sources, opts.seconds)
    opts.log(`  fixed maxActive ${WIDE}: ${line(wide)}`)
    const adaptive = await runAgent(
      base,
      all,
      'adaptive',
      { adaptive: true, ...BOUNDS },
      sources,
      opts.seconds,
    )
    opts.log(
      `  adaptive ${BOUNDS.minActive}..${BOUNDS.maxActive} from ${BOUNDS.startActive}: ${line(adaptive)}, ended at ${adaptive.finalLimit} after ${adaptive.changes} changes`,
    )
    for (const d of adaptive.decisions) opts.log(`    ${d}`)
    return {
      'adaptive.xroot.throttled': {
        value: adaptive.filesPerSecond,
        unit: 'files/s',
        baseline: fixed.filesPerSecond,
        better: 'higher',
        note: `${RATE} link, 1 MiB files, ${opts.seconds} s each; fixed maxActive ${FIXED}; adaptive ended at ${adaptive.finalLimit} after ${adaptive.changes} changes`,
      },
      'adaptive.xroot.throttled.vs-wide': {
        value: adaptive.filesPerSecond,
        unit: 'files/s',
        baseline: wide.filesPerSecond,
        better: 'higher',
        note: `the same against fixed maxActive ${WIDE} (aso.yaml's default)`,
      },
      'adaptive.xroot.throttled.settled': {
        value: adaptive.lateFilesPerSecond,
        unit: 'files/s',
        baseline: Math.max(fixed.lateFilesPerSecond, wide.lateFilesPerSecond),
        better: 'higher',
        note: `second half of each run (the climb from ${BOUNDS.startActive} done) against the better fixed limit's`,
      },
    }
  } finally {
    await unshape()
    await Promise.all(sites.map((s) => s.stop()))
    await rm(base, { recursive: true, force: true })
  }
}
