import { classify } from '../domain/failures.js'
import type { OutcomePolicy } from '../store/types.js'
import type { AgentContext } from './context.js'

/** The policy recordOutcomes applies, from the configuration. */
export function outcomePolicy(ctx: AgentContext): OutcomePolicy {
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
    classify,
  }
}
