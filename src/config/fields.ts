import { z } from 'zod'
import { parseDuration } from '../domain/duration.js'

/** A duration field: `30s`, `5m`, `2h`, `14d`, or a number of seconds; parsed to milliseconds. */
export const duration = (fallback: string) =>
  z
    .union([z.string(), z.number()])
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return parseDuration(v)
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^duration: /, '') })
        return z.NEVER
      }
    })
