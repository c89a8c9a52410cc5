/**
 * hostile: how long the API's event loop stalls while hostile bodies arrive, three at a time, on a real loopback
 * socket (insecure-dev, in this process): oversized (33 MiB, refused before it is read), one item of 100,000
 * unknown keys (1.3 MB) and of 1.5 M keys (31 MB, within the inject limit), nesting 100,000 deep, and 10,000
 * items with 40 unknown keys and 3 bad fields each (the answer capped at 1 MiB).
 * Baseline: the same server in the same run under ordinary requests (whoami, an inject of 10 valid files),
 * also three at a time. Figures: the event-loop delay (perf_hooks.monitorEventLoopDelay) p50/p99/max of each
 * phase, and the slowest /health answer during the hostile phase. Target: max under 200 ms.
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { makeFileLab } from '../test/support/file-sites.js'
import type { Figures } from './support/report.js'

const ROUNDS = 4
const USER = 'alice'

function valid(i: number): Record<string, unknown> {
  return {
    user: USER,
    task: `hostile-${i % 7}`,
    jobId: `j${i}`,
    source: 'SITE_A',
    sourceLfn: `/store/temp/user/${USER}.abc/f${i}.root`,
    destination: 'SITE_B',
    destinationLfn: `/store/user/${USER}/f${i}.root`,
    size: 1000 + i,
    checksums: { adler32: '0000abcd' },
  }
}

function manyKeys(n: number): string {
  const item: Record<string, unknown> = valid(0)
  for (let i = 0; i < n; i++) item[`k${i}`] = i
  return JSON.stringify([item])
}

/** The hostile bodies, made before the clock starts. */
function hostileBodies(): { name: string; body: string }[] {
  const badItems = Array.from({ length: 10_000 }, (_, i) => {
    const item: Record<string, unknown> = { ...valid(i), user: 'bob', size: -1, priority: 9 }
    for (let k = 0; k < 40; k++) item[`unknownField${k}`] = k
    return item
  })
  return [
    { name: 'oversized', body: 'x'.repeat(33 * 1024 * 1024) },
    { name: 'keys-100k', body: manyKeys(100_000) },
    { name: 'keys-1.5M', body: manyKeys(1_500_000) },
    { name: 'deep', body: `${'['.repeat(100_000)}${']'.repeat(100_000)}` },
    { name: 'bad-items-10k', body: JSON.stringify(badItems) },
  ]
}

interface Delay {
  p50: number
  p99: number
  max: number
}

/** The API in a child process: the client's own work (making and sending 30 MB bodies) stays out of its loop. */
async function startApiProcess(configPath: string) {
  const child = fork(fileURLToPath(new URL('./support/loop-delay-api.ts', import.meta.url)), [configPath], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const next = <T>() => once(child, 'message').then(([m]) => m as T)
  const { url } = await next<{ url: string }>()
  return {
    url,
    /** the child's event-loop delay while `work` runs; ms */
    async loopDelayDuring(work: () => Promise<void>): Promise<Delay> {
      child.send({ cmd: 'measure' })
      await work()
      // a quick answer may end before the histogram's first sample: let it take a few
      await new Promise((r) => setTimeout(r, 50))
      const report = next<Delay>()
      child.send({ cmd: 'report' })
      return report
    },
    async stop() {
      const exited = once(child, 'exit')
      child.send({ cmd: 'stop' })
      await exited
    },
  }
}

/** Runs `tasks` three at a time. */
async function threeAtATime(tasks: (() => Promise<void>)[]): Promise<void> {
  const queue = [...tasks]
  await Promise.all(
    [0, 1, 2].map(async () => {
      for (let t = queue.shift(); t; t = queue.shift()) await t()
    }),
  )
}

export async function benchHostileBodies(opts: { log(line: string): void }): Promise<Figures> {
  const lab = await makeFileLab({
    config: { users: { [USER]: { groups: ['cms'] }, bob: {} }, api: { limits: { requests: 0 } } },
  })
  const api = await startApiProcess(lab.configPath)
  const headers = { 'x-aso-user': USER, 'content-type': 'application/json' }
  const send = async (path: string, body?: Buffer): Promise<number> => {
    try {
      const r = await request(`${api.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        ...(body === undefined ? {} : { body }),
      })
      await r.body.text()
      return r.statusCode
    } catch (e) {
      // a 413 may close the socket while a 33 MiB body is still being sent: the refusal is what counts
      if ((e as { code?: string }).code === 'UND_ERR_SOCKET' || (e as { code?: string }).code === 'EPIPE')
        return 413
      throw e
    }
  }
  try {
    const hostile = hostileBodies().map((b) => ({ name: b.name, body: Buffer.from(b.body) }))
    const ordinaryBodies = Array.from({ length: ROUNDS * hostile.length }, (_, r) =>
      Buffer.from(JSON.stringify(Array.from({ length: 10 }, (_, i) => valid(r * 10 + i)))),
    )

    // warm up: the first requests compile the routes' code
    for (const b of ordinaryBodies.slice(0, 3)) await send('/api/v1/transfers', b)
    const ordinary = await api.loopDelayDuring(() =>
      threeAtATime(
        ordinaryBodies.flatMap((b) => [
          async () => {
            const s = await send('/api/v1/transfers', b)
            if (s !== 200) throw new Error(`ordinary inject answered ${s}`)
          },
          async () => {
            await send('/api/v1/whoami')
          },
        ]),
      ),
    )

    const statuses = new Map<string, Set<number>>()
    let healthMax = 0
    let hostileDone = false
    const health = (async () => {
      while (!hostileDone) {
        const t0 = performance.now()
        await send('/health')
        healthMax = Math.max(healthMax, performance.now() - t0)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    const attack = await api.loopDelayDuring(async () => {
      await threeAtATime(
        Array.from({ length: ROUNDS }).flatMap(() =>
          hostile.map(({ name, body }) => async () => {
            const s = await send('/api/v1/transfers', body)
            statuses.set(name, (statuses.get(name) ?? new Set()).add(s))
          }),
        ),
      )
      hostileDone = true
      await health
    })
    for (const [name, s] of statuses) opts.log(`  ${name}: answered ${[...s].join(', ')}`)

    // each kind alone, and the largest legitimate inject (10,000 valid files) for comparison
    const alone: Figures = {}
    const largest = Buffer.from(JSON.stringify(Array.from({ length: 10_000 }, (_, i) => valid(10_000 + i))))
    for (const { name, body } of [...hostile, { name: 'valid-10k (legitimate)', body: largest }]) {
      const d = await api.loopDelayDuring(async () => {
        await send('/api/v1/transfers', body)
      })
      alone[`event-loop delay max, ${name} alone`] = { value: d.max, unit: 'ms', better: 'lower' }
    }

    const note = `${ROUNDS} rounds of ${hostile.length} hostile bodies, 3 at a time`
    return {
      'event-loop delay p50 (hostile)': {
        value: attack.p50,
        unit: 'ms',
        baseline: ordinary.p50,
        better: 'lower',
      },
      'event-loop delay p99 (hostile)': {
        value: attack.p99,
        unit: 'ms',
        baseline: ordinary.p99,
        better: 'lower',
      },
      'event-loop delay max (hostile)': {
        value: attack.max,
        unit: 'ms',
        baseline: ordinary.max,
        better: 'lower',
        note: `target < 200 ms; ${note}`,
      },
      '/health slowest answer (hostile)': { value: healthMax, unit: 'ms', better: 'lower' },
      ...alone,
    }
  } finally {
    await api.stop()
  }
}
