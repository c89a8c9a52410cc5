/**
 * An aso.yaml whose sites are real XRootD servers (test/support/xrootd.ts): each site serves `root://` only,
 * with PFN = `root://127.0.0.1:PORT/` + LFN. Agent intervals are short, as in file-sites.ts.
 */
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { adler32 } from 'hash-wasm'
import { stringify } from 'yaml'
import { putFile, type XrootdSite } from './xrootd.js'

type Plain = Record<string, unknown>

const isPlain = (v: unknown): v is Plain => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `over` merged into `base`, plain objects key by key (so a test may change one agent interval). */
function merge(base: Plain, over: Plain): Plain {
  const out: Plain = { ...base }
  for (const [k, v] of Object.entries(over)) {
    const b = out[k]
    out[k] = isPlain(b) && isPlain(v) ? merge(b, v) : v
  }
  return out
}

/** Writes `dir/aso.yaml` (SQLite in `dir`) for the given XRootD sites; returns its path. */
export async function writeXrootdConfig(
  dir: string,
  sites: Record<string, XrootdSite>,
  config: Plain = {},
): Promise<string> {
  const defaults: Plain = {
    database: `sqlite:${path.join(dir, 'aso.db')}`,
    sites: Object.fromEntries(
      Object.entries(sites).map(([name, s]) => [
        name,
        { protocols: [{ scheme: 'root', prefix: `root://127.0.0.1:${s.port}/` }] },
      ]),
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
  }
  const configPath = path.join(dir, 'aso.yaml')
  await writeFile(configPath, stringify(merge(defaults, config)))
  return configPath
}

/** Leaves a job output in a site (as the job would have) and returns what the job would report. */
export async function stageOutput(
  site: XrootdSite,
  lfn: string,
  data: Buffer,
): Promise<{ size: number; adler32: string }> {
  await putFile(site, lfn, data)
  return { size: data.length, adler32: await adler32(data) }
}

/** An inject request for one job output of `user`: temp area `.../<user>.<suffix>/<dir>/<name>`. */
export function outputRequest(r: {
  user: string
  task: string
  source: string
  destination: string
  dir: string
  name: string
  size: number
  adler32: string
  suffix?: string
}): Record<string, unknown> & { sourceLfn: string; destinationLfn: string; checksums: { adler32: string } } {
  return {
    user: r.user,
    task: r.task,
    jobId: `${r.dir}-${r.name}`,
    source: r.source,
    sourceLfn: tempLfn(r.user, r.dir, r.name, r.suffix),
    destination: r.destination,
    destinationLfn: `/store/user/${r.user}/${r.dir}/${r.name}`,
    size: r.size,
    checksums: { adler32: r.adler32 },
  }
}

/** The temporary-area LFN `outputRequest` reads from. */
export function tempLfn(user: string, dir: string, name: string, suffix = '260101'): string {
  return `/store/temp/user/${user}.${suffix}/${dir}/${name}`
}
