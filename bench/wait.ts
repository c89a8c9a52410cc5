/**
 * wait: the delay from the last file of a task turning terminal to `aso wait --task T` exiting, the built CLI
 * through --server against `aso serve --insecure-dev` (API and agent in one process, file:// sites), measured as
 * test/e2e/wait.test.ts does: the task's link is paused until the wait is listening, then released; the delay is
 * the CLI's exit minus the latest terminal history row of the task's files. 20 rounds, p50 and p95.
 * Baseline: the p50 of `aso --version` spawn to exit (the same binary doing nothing heavy), one per round, so
 * the ratio says how much of the delay is ours beyond starting a process. Target (issue): within 5 s.
 */
import { rm } from 'node:fs/promises'
import path from 'node:path'
import { AsoClient } from '../src/client/client.js'
import { isTerminal } from '../src/domain/states.js'
import { openStore } from '../src/store/open.js'
import type { Store } from '../src/store/store.js'
import { makeFileLab } from '../test/support/file-sites.js'
import { runCli, startCli, startServe } from './support/cli.js'
import { type Figures, median, percentile } from './support/report.js'

const LINK = 'SITE_A->SITE_B'
const FILES_PER_TASK = 3
const TARGET_MS = 5000
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function setPaused(store: Store, paused: boolean): Promise<void> {
  await store.setLinkSetting(LINK, { paused }, 'bench', Date.now())
  // a submitter cycle that read the settings just before runs out (submitInterval is 100 ms in the lab)
  if (paused) await sleep(300)
}

/** When the last of `ids` turned terminal, from the store's history (the agent's clock, epoch ms). */
async function lastTerminal(store: Store, ids: string[]): Promise<number> {
  const ends = await Promise.all(
    ids.map(async (id) =>
      Math.max(...(await store.history(id)).filter((e) => isTerminal(e.to)).map((e) => e.at)),
    ),
  )
  return Math.max(...ends)
}

export async function benchWait(opts: { log(line: string): void; rounds?: number }): Promise<Figures> {
  const rounds = opts.rounds ?? 20
  // the e2e test's lab: file:// sites, alice of group cms, the agent's intervals of the tests
  const lab = await makeFileLab({ config: { users: { alice: { groups: ['cms'] } } } })
  const serve = await startServe(lab.configPath).catch(async (e) => {
    await rm(lab.dir, { recursive: true, force: true })
    throw e
  })
  const client = new AsoClient(serve.url, { user: 'alice' })
  const store = await openStore(`sqlite:${path.join(lab.dir, 'aso.db')}`)
  const delays: number[] = []
  const starts: number[] = []
  let files = 0
  try {
    for (let round = 0; round < rounds; round++) {
      // the bare process start, interleaved so machine noise hits both alike
      const bare = await runCli(['--version'])
      if (bare.code !== 0) throw new Error(`aso --version exited ${bare.code}: ${bare.stderr}`)
      starts.push(bare.ms)

      await setPaused(store, true)
      const task = `bench-wait-${round}`
      const requests: Record<string, unknown>[] = []
      for (let i = 0; i < FILES_PER_TASK; i++) {
        const name = `w${++files}.root`
        const w = await lab.writeOutput('SITE_A', `/store/temp/user/alice.abc/${name}`, 2000 + files)
        requests.push(
          lab.request({ user: 'alice', source: 'SITE_A', destination: 'SITE_B', name, task, ...w }),
        )
      }
      const injected = await client.inject(requests)
      if (!injected.results.every((r) => r.status === 'created'))
        throw new Error(`inject refused: ${JSON.stringify(injected.results)}`)
      const ids = injected.results.map((r) => r.id!)

      const waiting = startCli(['--server', serve.url, 'wait', '--task', task, '--timeout', '30s'], {
        ASO_USER: 'alice',
      })
      // held back until the wait is listening (its long-poll follows this line at once)
      await waiting.sawOnStderr(/waiting for task/)
      await sleep(200)
      await setPaused(store, false)
      const run = await waiting.done
      if (run.code !== 0) throw new Error(`aso wait exited ${run.code}: ${run.stderr}`)
      if (!new RegExp(`task ${task}: ${FILES_PER_TASK} files, .*: DONE ${FILES_PER_TASK}`).test(run.stdout))
        throw new Error(`aso wait printed: ${run.stdout}`)
      delays.push(run.endedAt - (await lastTerminal(store, ids)))
    }
  } finally {
    await client.close()
    await store.close()
    await serve.stop()
    await rm(lab.dir, { recursive: true, force: true })
  }

  const p50 = percentile(delays, 50)
  const p95 = percentile(delays, 95)
  const bare = median(starts)
  opts.log(
    `  ${rounds} rounds: delay p50 ${p50} ms, p95 ${p95} ms, max ${Math.max(...delays)} ms; aso --version p50 ${bare.toFixed(0)} ms`,
  )
  const within = (v: number) => (v < TARGET_MS ? 'within 5 s' : 'OVER 5 s')
  const what = `last file terminal (history) -> aso wait exit, ${rounds} rounds of ${FILES_PER_TASK} files`
  const base = 'baseline: p50 of aso --version spawn to exit'
  return {
    'wait.delay.p50': {
      value: p50,
      unit: 'ms',
      baseline: bare,
      better: 'lower',
      note: `${what}; ${base}; ${within(p50)}`,
    },
    'wait.delay.p95': {
      value: p95,
      unit: 'ms',
      baseline: bare,
      better: 'lower',
      note: `${what}; ${base}; ${within(p95)}`,
    },
  }
}
