/** The adaptive part of a link's view (issue 18): shared by the links list, the dashboard and link changes. */
import { z } from 'zod'

export const linkDecisionSchema = z.object({
  at: z.number().describe('epoch milliseconds, UTC'),
  from: z.number(),
  to: z.number(),
  reason: z.string(),
})

export const linkAdaptiveSchema = z
  .object({
    pinned: z
      .boolean()
      .describe("an operator's maxActive holds the link until unpinned (maxActive null, or aso link unpin)"),
    current: z.number().describe("the tuner's limit (startActive until it has measured the link)"),
    minActive: z.number(),
    maxActive: z.number(),
    decisions: z.array(linkDecisionSchema).describe("the tuner's last changes of the limit, newest first"),
  })
  .describe('present when aso.yaml says links.*.adaptive: true for the link (built-in engine only)')
  .meta({ id: 'LinkAdaptive' })
export type LinkAdaptive = z.infer<typeof linkAdaptiveSchema>
