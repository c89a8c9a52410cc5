import { FairnessTracker, type PolicyResult, Tally, utilisation } from './metrics.js'
import { type CopyEnd, Network } from './network.js'
import { DESCRIPTIONS } from './policies.js'
import type { World } from './scenario.js'

const HOUR = 3_600_000
/** attempts a job's stage-out makes per file, and the pause between them (cmscp-like) */
const ATTEMPTS = 3
const PAUSE_MS = 60_000

/**
 * The synchronous baseline: no ASO. At its end each job copies its outputs one after the other straight to
 * the destination over the same simulated network (no queue, no limit: every job copies at once), retrying
 * a failed copy twice after a minute; its CPU slot stays taken until the last copy ends.
 */
export function runSynchronous(world: World, progress?: (line: string) => void): PolicyResult {
  const wall0 = performance.now()
  const net = new Network(world, world.start)
  const tally = new Tally(world.start)
  const fairness = new FairnessTracker((u) => world.users[world.userIndex.get(u) ?? 0]?.weight ?? 1)
  const total = world.size.length
  let terminal = 0
  let cpuMs = 0
  let lastEnd = world.start
  const J = world.jobEnd.length

  const stageOut = (j: number) => {
    const end = world.start + world.jobEnd[j]!
    const uIdx = world.jobUser[j]!
    const u = world.users[uIdx]!
    const source = world.jobSource[j]!
    const link = `${world.sites[source]!.name}->${world.sites[u.home]!.name}`
    const first = world.jobFirst[j]!
    const n = world.jobFiles[j]!
    fairness.added(u.name, link, n)
    let k = 0
    let attempt = 1
    const copyNext = () => {
      if (k >= n) {
        cpuMs += net.now() - end
        return
      }
      const f = first + k
      const id = `j${j}_${k}`
      net.start({ id, user: uIdx, source, destination: u.home, size: world.size[f]! }, (e: CopyEnd) => {
        if (e.ok || attempt >= ATTEMPTS) {
          terminal++
          lastEnd = Math.max(lastEnd, e.at)
          if (e.ok) {
            tally.done(id, world.size[f]!, e.at - end, e.at)
            fairness.ended(u.name, link, world.size[f]!)
          } else {
            tally.failure(id, e.cause!)
            tally.failed(id, e.at)
            fairness.ended(u.name, link, 0)
          }
          k++
          attempt = 1
          copyNext()
        } else {
          tally.failure(id, e.cause!)
          attempt++
          net.at(e.at + PAUSE_MS, copyNext)
        }
      })
    }
    copyNext()
  }

  let next = 0
  let nextInterval = world.start + HOUR
  let lastProgress = performance.now()
  while (terminal < total) {
    const arrival = next < J ? world.start + world.jobEnd[next]! : Number.POSITIVE_INFINITY
    const t = Math.min(arrival, net.nextAt(), nextInterval)
    if (t === Number.POSITIVE_INFINITY) throw new Error(`synchronous: ${total - terminal} files never ended`)
    net.advanceTo(t)
    if (t === nextInterval) {
      fairness.closeInterval()
      nextInterval += HOUR
    }
    while (next < J && world.start + world.jobEnd[next]! <= t) stageOut(next++)
    if (progress && performance.now() - lastProgress > 2000) {
      lastProgress = performance.now()
      progress(
        `synchronous: virtual ${((t - world.start) / HOUR).toFixed(1)} h, ${terminal}/${total} files terminal`,
      )
    }
  }
  fairness.closeInterval()
  return {
    policy: 'synchronous',
    description: DESCRIPTIONS.synchronous,
    files: total,
    terminal,
    delivered: { files: tally.deliveredFiles, bytes: tally.deliveredBytes },
    failed: { files: tally.failedFiles, byClass: tally.byClass },
    latencySeconds: tally.latency(),
    fairness: fairness.index(),
    linkUtilisation: utilisation(net.linkTotals(), lastEnd - world.start),
    cpuHoursLost: cpuMs / HOUR,
    copiesStarted: net.copiesStarted,
    virtualHours: (lastEnd - world.start) / HOUR,
    wallSeconds: (performance.now() - wall0) / 1000,
    hourly: tally.hourly,
  }
}
