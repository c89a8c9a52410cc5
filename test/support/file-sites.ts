import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { adler32 } from 'hash-wasm'
import { stringify } from 'yaml'

export interface FileLab {
  dir: string
  sitesDir: string
  configPath: string
  /** absolute path of an LFN at a site */
  path(site: string, lfn: string): string
  /** writes a job output and returns what a job would report */
  writeOutput(site: string, lfn: string, data: Buffer | number): Promise<{ size: number; adler32: string }>
  /** an inject request for a file written with writeOutput */
  request(opts: {
    user: string
    source: string
    destination: string
    name: string
    task?: string
    size: number
    adler32: string
    jobRetry?: number
  }): Record<string, unknown>
}

/** Deterministic bytes of a given size (different per seed), cheap to make even for hundreds of MB. */
export function testBytes(size: number, seed = 1): Buffer {
  const block = Buffer.allocUnsafe(Math.min(size, 65_521))
  let s = (seed * 2654435761) >>> 0
  for (let i = 0; i < block.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    block[i] = s >>> 24
  }
  return size <= block.length ? block : Buffer.alloc(size, block)
}

/** A temp directory with file:// sites and an aso.yaml for them; `config` is merged into the defaults. */
export async function makeFileLab(
  opts: { sites?: string[]; config?: Record<string, unknown>; dir?: string } = {},
): Promise<FileLab> {
  const dir = opts.dir ?? (await mkdtemp(path.join(tmpdir(), 'aso-test-')))
  const sitesDir = path.join(dir, 'sites')
  const sites = opts.sites ?? ['SITE_A', 'SITE_B']
  for (const s of sites) await mkdir(path.join(sitesDir, s), { recursive: true })
  const config = {
    database: `sqlite:${path.join(dir, 'aso.db')}`,
    sites: Object.fromEntries(
      sites.map((s) => [s, { protocols: [{ scheme: 'file', prefix: path.join(sitesDir, s) }] }]),
    ),
    links: { default: { maxActive: 20 } },
    retry: { maxAttempts: 3, backoff: { initial: '200ms', factor: 2, max: '1s', jitter: 0 } },
    agent: {
      submitInterval: '100ms',
      pollInterval: '1s',
      retryInterval: '100ms',
      cleanInterval: '200ms',
      reapInterval: '500ms',
      heartbeatInterval: '500ms',
      lease: '3s',
      shutdownGrace: '2s',
    },
    ...opts.config,
  }
  const configPath = path.join(dir, 'aso.yaml')
  await writeFile(configPath, stringify(config))
  const lab: FileLab = {
    dir,
    sitesDir,
    configPath,
    path: (site, lfn) => path.join(sitesDir, site, lfn),
    async writeOutput(site, lfn, data) {
      const buf = typeof data === 'number' ? testBytes(data, lfn.length) : data
      const file = lab.path(site, lfn)
      await mkdir(path.dirname(file), { recursive: true })
      await writeFile(file, buf)
      return { size: buf.length, adler32: await adler32(buf) }
    },
    request: (r) => ({
      user: r.user,
      task: r.task ?? 'task1',
      jobId: r.name,
      jobRetry: r.jobRetry ?? 0,
      source: r.source,
      sourceLfn: `/store/temp/user/${r.user}.abc/${r.name}`,
      destination: r.destination,
      destinationLfn: `/store/user/${r.user}/${r.name}`,
      size: r.size,
      checksums: { adler32: r.adler32 },
    }),
  }
  return lab
}
