/**
 * The other Node.js LTS lines of package.json's engines (22, 24), beside the machine's own that runs the rest of the
 * suite: scripts/node-smoke.sh runs `aso demo`, `aso serve --insecure-dev` (/health, then SIGTERM: exit 0, where
 * Node 24 used to abort in better-sqlite3's Statement destructor) and one e2e test of the CLI through the API, each
 * with that Node, in a copy of the repository that `npm test` prepared before the suite (node@MAJOR from the npm
 * registry, npm ci and build under it: scripts/test.sh). Skips, saying why in one line, when that preparation was
 * not done or the registry could not be reached; fails when it failed for another reason.
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const SCRIPT = path.resolve('scripts/node-smoke.sh')
// the suite's global setup points TMPDIR at its own run directory: scripts/test.sh passes the cache's place
const CACHE = process.env.ASO_NODE_SMOKE_CACHE ?? '/tmp/aso-node-smoke'

function status(major: number): string | null {
  const file = path.join(CACHE, `status-${major}`)
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : null
}

/** The status once scripts/test.sh's preparation, which runs beside the suite, has finished with this version. */
async function settledStatus(major: number, timeoutMs = 1_500_000): Promise<string | null> {
  const until = Date.now() + timeoutMs
  let s = status(major)
  while (s === 'preparing' && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 2000))
    s = status(major)
  }
  return s
}

function logTail(major: number): string {
  const file = path.join(CACHE, `prepare-${major}.log`)
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').slice(-40).join('\n') : ''
}

describe('other Node.js LTS lines', () => {
  for (const major of [22, 24]) {
    it(`Node ${major}: aso demo, aso serve with its API stopped by SIGTERM, and an e2e test of the CLI through the API`, async ({
      skip,
    }) => {
      const s = await settledStatus(major)
      const why =
        s === null
          ? `Node ${major} not prepared in ${CACHE}: scripts/node-smoke.sh prepare ${major} (npm test does it first)`
          : s.startsWith('unavailable')
            ? `Node ${major}: ${s}`
            : null
      if (why !== null) {
        console.log(`skipped: ${why}`)
        skip(why)
        return
      }
      expect(s, `preparing Node ${major} (${CACHE}):\n${logTail(major)}`).toMatch(/^ready /)
      const run = await new Promise<{ code: number; output: string }>((resolve) => {
        execFile(
          SCRIPT,
          ['run', String(major)],
          { env: { ...process.env, ASO_NODE_SMOKE_CACHE: CACHE }, maxBuffer: 16 * 1024 * 1024 },
          (err, stdout, stderr) =>
            resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
        )
      })
      expect(run.code, run.output).toBe(0)
      // the timings, in the suite's output
      console.log(run.output.trim().split('\n').at(-1))
    }, 2_700_000)
  }
})
