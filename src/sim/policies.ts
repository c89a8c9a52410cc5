/** The policies a simulation compares: the product as configured, and the original system's as baselines. */
export type PolicyName = 'aso' | 'original' | 'synchronous'
export const POLICIES: readonly PolicyName[] = ['aso', 'original', 'synchronous']

export const DESCRIPTIONS: Record<PolicyName, string> = {
  aso: 'ASO as configured: weighted fair share, link limits, retry with backoff, quota holds, queue time-outs requeued',
  original:
    'the original ASO: FIFO by oldest file, no link limit (everything to FTS), 3 attempts 2 h apart, quota and queue time-out fatal',
  synchronous: 'no ASO: each job copies its outputs at its end (3 attempts), holding its CPU slot meanwhile',
}

/** `aso.yaml` settings of each agent-driven policy, over the simulation's own (sites, intervals). */
export function policyConfig(policy: Exclude<PolicyName, 'synchronous'>, hasScheduling: boolean) {
  if (policy === 'aso') {
    return {
      // adaptive limits between 10 and 80 copies in flight per link, starting at 40 (from 20 with a floor of 2 they
      // kept the slow links below what they carry: p95 11 h on cms-day)
      links: {
        default: { adaptive: true, startActive: 40, minActive: 10, maxActive: 80, maxFilesPerJob: 100 },
      },
      // a quota hold is looked at again every 2 h; files still over quota after 12 h fail (a day's horizon)
      holds: { quotaRecheck: '2h', maxHold: '12h' },
      // retries spread over two hours (10 min, 30 min, 90 min): a site's short down-time does not use them up
      retry: { maxAttempts: 4, backoff: { initial: '10m', factor: 3, max: '2h', jitter: 0.2 } },
      ...(hasScheduling ? { agentScheduling: 'fair-share' } : {}),
    }
  }
  return {
    // the original had no per-link limit: every new file went to FTS, up to 100 per job
    links: { default: { maxActive: 100_000, maxFilesPerJob: 100 } },
    retry: { maxAttempts: 3, backoff: { initial: '2h', factor: 1, max: '2h', jitter: 0 } },
    ...(hasScheduling ? { agentScheduling: 'fifo' } : {}),
  }
}
