import { InstantEngine } from './support/instant-engine.js'
import { agentPipeline, sqliteFloor } from './support/pipeline-run.js'
import { type Figures, median } from './support/report.js'

/**
 * pipeline: files per second from inject to DONE through the real agent loops and the real store, with an
 * engine that completes instantly. Baseline: the same SQLite writes by a minimal loop (the floor).
 */
export async function benchPipeline(opts: {
  log(line: string): void
  files?: number
  runs?: number
}): Promise<Figures> {
  const n = opts.files ?? 20_000
  const ours: number[] = []
  const floor: number[] = []
  // alternate, so machine noise hits both sides alike
  for (let r = 0; r < (opts.runs ?? 3); r++) {
    floor.push((await sqliteFloor(n)).filesPerSecond)
    ours.push((await agentPipeline(n, () => new InstantEngine())).filesPerSecond)
    opts.log(
      `  run ${r + 1}: agent ${ours.at(-1)!.toFixed(0)} files/s, floor ${floor.at(-1)!.toFixed(0)} files/s`,
    )
  }
  return {
    'pipeline.instant.sqlite': {
      value: median(ours),
      unit: 'files/s',
      baseline: median(floor),
      better: 'higher',
      note: `${n} files, 10 users, one link, median of ${ours.length}`,
    },
  }
}
