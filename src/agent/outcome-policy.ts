import type { TransferEngine } from '../engines/types.js'
import type { OutcomePolicy } from '../store/ops/outcomes.js'
import type { AgentContext } from './context.js'

/**
 * The policy recordOutcomes applies, from the configuration. For an engine whose jobs live in this agent,
 * outcomes count only for files this agent still holds (a taken-over file's old agent is ignored).
 */
export function outcomePolicy(
  ctx: Pick<AgentContext, 'config' | 'now' | 'agentId'>,
  engine?: TransferEngine,
): OutcomePolicy {
  const { retry, holds } = ctx.config
  return {
    now: ctx.now(),
    backoff: {
      initialMs: retry.backoff.initial,
      factor: retry.backoff.factor,
      maxMs: retry.backoff.max,
      jitter: retry.backoff.jitter,
    },
    quotaRecheck: holds.quotaRecheck,
    maxHold: holds.maxHold,
    actor: ctx.agentId,
    ...(engine && !engine.jobsOutliveAgent ? { holder: ctx.agentId } : {}),
  }
}
