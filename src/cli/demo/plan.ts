import { spawnSync } from 'node:child_process'
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { stringify } from 'yaml'
import { acquireAdler32, releaseAdler32 } from '../../storage/adler32.js'

export const DEMO_SITES = ['T2_IT_Bari', 'T2_CH_CERN', 'T1_US_FNAL'] as const
export const DEMO_USERS = ['alice', 'bob', 'carol'] as const

/** What the demo planted, so it can check that every file ended the way it should. */
export interface DemoPlan {
  dir: string
  configPath: string
  requests: Record<string, unknown>[]
  totalBytes: number
  /** destination LFNs expected to fail, with their class */
  expectedFailures: Map<string, string>
  /** the file whose first attempt fails on a blocked directory, and the blocker to remove */
  transient: { destinationLfn: string; blocker: string; parent: string }
  /** undo what cannot be removed by rm -rf (immutable directories) */
  undo(): Promise<void>
}

/** A small deterministic generator, so the demo's data is the same on every run. */
function rng(seed: number) {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 4294967296
  }
}

function sizes(n: number, random: () => number): number[] {
  // most outputs are small (logs, ntuples), a few are tens of MB
  return Array.from({ length: n }, (_, i) =>
    i % 17 === 5 ? Math.floor(8e6 + random() * 32e6) : Math.floor(3 * 10 ** (random() * 5.5)),
  )
}

async function writeOutput(file: string, size: number, seed: number): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true })
  const blockLength = Math.min(size, 1 << 20)
  const random = rng(seed)
  const words = Uint32Array.from({ length: Math.ceil(blockLength / 4) }, () => (random() * 2 ** 32) >>> 0)
  const block = Buffer.from(words.buffer, 0, blockLength)
  const hasher = await acquireAdler32()
  try {
    const chunks: Buffer[] = []
    for (let left = size; left > 0; left -= block.length) {
      const c = block.subarray(0, Math.min(left, block.length))
      hasher.update(c)
      chunks.push(c)
    }
    await writeFile(file, Buffer.concat(chunks))
    return hasher.digest('hex')
  } finally {
    releaseAdler32(hasher)
  }
}

/** Makes a directory unwritable, also for root (chattr +i) where chmod alone does not stop root. */
async function makeUnwritable(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true })
  await chmod(dir, 0o555)
  if (process.getuid?.() !== 0) return async () => chmod(dir, 0o755)
  const r = spawnSync('chattr', ['+i', dir], { encoding: 'utf8' })
  if (r.status !== 0) {
    throw new Error(
      `the demo runs as root and cannot make ${dir} read-only (chattr: ${r.stderr?.trim() || r.error?.message}); run it as a normal user`,
    )
  }
  return async () => {
    spawnSync('chattr', ['-i', dir])
    await chmod(dir, 0o755)
  }
}

/** Lays out three sites, three users' job outputs and the planted faults; writes aso.yaml (its own SQLite by default). */
export async function planDemo(dir: string, files: number, database?: string): Promise<DemoPlan> {
  const sitesDir = path.join(dir, 'sites')
  const config = {
    database: database ?? `sqlite:${path.join(dir, 'aso.db')}`,
    engine: 'local',
    instance: 'demo',
    sites: Object.fromEntries(
      DEMO_SITES.map((s) => [s, { protocols: [{ scheme: 'file', prefix: path.join(sitesDir, s) }] }]),
    ),
    links: { default: { maxActive: 12, maxFilesPerJob: 20 } },
    users: {
      alice: { groups: ['cms', 'higgs'], weight: 1 },
      bob: { groups: ['cms'], weight: 1 },
      carol: { groups: ['cms', 'top'], weight: 1 },
      // the operator's view of the same run: links, users' weights, the audit (aso serve … --insecure-dev)
      ops: { groups: ['cms'], role: 'operator' },
    },
    retry: { maxAttempts: 3, backoff: { initial: '300ms', factor: 2, max: '2s', jitter: 0.1 } },
    cleanup: { deleteSourceOnDone: true, tempRetention: '14d' },
    agent: {
      submitInterval: '200ms',
      pollInterval: '2s',
      retryInterval: '100ms',
      cleanInterval: '200ms',
      reapInterval: '5s',
      shutdownGrace: '5s',
    },
    local: { maxConcurrent: 8 },
  }
  for (const s of DEMO_SITES) await mkdir(path.join(sitesDir, s), { recursive: true })
  const configPath = path.join(dir, 'aso.yaml')
  await writeFile(configPath, `# written by aso demo\n${stringify(config)}`)

  const random = rng(20121108)
  const requests: Record<string, unknown>[] = []
  const expectedFailures = new Map<string, string>()
  let totalBytes = 0
  const sizeList = sizes(files, random)
  for (let i = 0; i < files; i++) {
    const user = DEMO_USERS[i % DEMO_USERS.length]!
    const source = DEMO_SITES[i % 3]!
    const destination = DEMO_SITES[(i + 1 + (i % 2)) % 3]!
    const task = `261125_120000:${user}_crab_demo${i % 2}`
    const name = `output_${i}.root`
    const sourceLfn = `/store/temp/user/${user}.a1b2c3/demo/${task.split(':')[1]}/${name}`
    let destinationLfn = `/store/user/${user}/demo/${task.split(':')[1]}/${name}`
    const size = sizeList[i]!
    const adler32 = await writeOutput(path.join(sitesDir, source, sourceLfn), size, i + 1)
    totalBytes += size
    const req: Record<string, unknown> = {
      user,
      group: 'cms',
      task,
      jobId: i + 1,
      source,
      sourceLfn,
      destination,
      destinationLfn,
      size,
      checksums: { adler32 },
      publish: false,
    }
    requests.push(req)
    if (i % 50 === 7) {
      // the job said it wrote the file, but it is gone from the temporary area
      await rm(path.join(sitesDir, source, sourceLfn))
      expectedFailures.set(destinationLfn, 'permanent-source')
    }
    if (i === 33) {
      req.checksums = { adler32: adler32 === 'deadbeef' ? 'feedface' : 'deadbeef' }
      expectedFailures.set(destinationLfn, 'permanent-source')
    }
    if (i === 60 || i === 63) {
      destinationLfn = `/store/user/${user}/readonly/${name}`
      req.destinationLfn = destinationLfn
      expectedFailures.set(destinationLfn, 'permanent-destination')
    }
  }
  // one destination directory nobody may write
  const readOnlyUndo: (() => Promise<void>)[] = []
  for (const lfn of expectedFailures.keys()) {
    if (!lfn.includes('/readonly/')) continue
    const req = requests.find((r) => r.destinationLfn === lfn)!
    readOnlyUndo.push(await makeUnwritable(path.join(sitesDir, String(req.destination), path.dirname(lfn))))
  }
  // one transient fault: a file stands where the destination directory should be, until the demo removes it
  const t = requests[90]!
  const parent = path.join(sitesDir, String(t.destination), path.dirname(String(t.destinationLfn)))
  const blockedLfn = `/store/user/${t.user}/flaky/${path.basename(String(t.destinationLfn))}`
  t.destinationLfn = blockedLfn
  const blocker = path.join(sitesDir, String(t.destination), `/store/user/${t.user}/flaky`)
  await mkdir(path.dirname(blocker), { recursive: true })
  await writeFile(blocker, 'not a directory\n')
  return {
    dir,
    configPath,
    requests,
    totalBytes,
    expectedFailures,
    transient: { destinationLfn: blockedLfn, blocker, parent },
    undo: async () => {
      for (const u of readOnlyUndo) await u()
    },
  }
}
