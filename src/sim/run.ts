import { type RunOptions, runAgentPolicy } from './driver.js'
import type { PolicyResult } from './metrics.js'
import { type PolicyName, policyConfig } from './policies.js'
import { generateWorld, type Scenario } from './scenario.js'
import { runSynchronous } from './synchronous.js'

export interface SimulateOptions extends Omit<RunOptions, 'databaseDir'> {
  scale?: number
  seed?: number
  policies?: readonly PolicyName[]
  /** where to keep each policy's store (DIR/POLICY); default: temporary, removed */
  databaseDir?: string
  /** whether the config has agent.scheduling (FIFO for the original) */
  scheduling?: boolean
}

export interface SimulationResult {
  scenario: string
  seed: number
  scale: number
  files: number
  jobs: number
  sites: number
  users: number
  wallSeconds: number
  policies: PolicyResult[]
}

/** The scenario under each policy, one after the other in this process, on the same generated day. */
export async function simulate(scenario: Scenario, opts: SimulateOptions = {}): Promise<SimulationResult> {
  const wall0 = performance.now()
  const scale = opts.scale ?? 1
  const seed = opts.seed ?? scenario.seed
  const world = generateWorld({ ...scenario, seed }, scale, seed)
  const results: PolicyResult[] = []
  for (const policy of opts.policies ?? ['aso', 'original', 'synchronous']) {
    if (policy === 'synchronous') results.push(runSynchronous(world, opts.progress))
    else
      results.push(
        await runAgentPolicy(world, policy, policyConfig(policy, opts.scheduling ?? true), {
          ...opts,
          databaseDir: opts.databaseDir ? `${opts.databaseDir}/${policy}` : undefined,
        }),
      )
  }
  return {
    scenario: scenario.name,
    seed,
    scale,
    files: world.size.length,
    jobs: world.jobEnd.length,
    sites: world.sites.length,
    users: world.users.length,
    wallSeconds: (performance.now() - wall0) / 1000,
    policies: results,
  }
}
