/**
 * The API's shapes, once: they validate requests, check responses, generate the OpenAPI document and give
 * the client its types.
 */
import { z } from 'zod'
import { parseDuration } from '../domain/duration.js'
import { FAILURE_CLASSES } from '../domain/failures.js'
import { PUBLICATION_STATES } from '../domain/publication.js'
import { injectRequestSchema, MAX_BATCH } from '../domain/request.js'
import { TRANSFER_STATES } from '../domain/states.js'
import { linkAdaptiveSchema } from './link-limits.js'

const state = z.enum(TRANSFER_STATES)
const epochMs = z.number().describe('epoch milliseconds, UTC')
const transferId = z.string().regex(/^[0-9a-f]{32}$/, 'must be a transfer id: 32 lowercase hex digits')
const publicationState = z.enum(PUBLICATION_STATES)

/** Files per publication state, every state present; NOT_REQUIRED: files that are not (or no longer) published. */
export const publicationCountsSchema = z
  .object(
    Object.fromEntries(PUBLICATION_STATES.map((s) => [s, z.number()])) as Record<
      (typeof PUBLICATION_STATES)[number],
      z.ZodNumber
    >,
  )
  .meta({ id: 'PublicationCounts' })
export type PublicationCountsResponse = z.infer<typeof publicationCountsSchema>

export const fieldErrorSchema = z.object({ field: z.string(), message: z.string() })

export const errorDetailSchema = z.object({
  code: z.string().describe('stable error code, e.g. invalid-request, unauthenticated, forbidden, not-found'),
  message: z.string().describe('what went wrong and what to do about it'),
  field: z.string().optional(),
})
export const errorBodySchema = z.object({ error: errorDetailSchema }).meta({ id: 'Error' })
export type ErrorBody = z.infer<typeof errorBodySchema>

/** The standard error answers every authenticated route may give. */
export const ERROR_RESPONSES = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
} as const

z.globalRegistry.add(injectRequestSchema, { id: 'TransferRequest' })

export const injectBodySchema = z
  .union([
    z.array(injectRequestSchema).max(MAX_BATCH),
    z.object({ transfers: z.array(injectRequestSchema).max(MAX_BATCH) }),
  ])
  .describe(`a JSON array of transfer requests, or {"transfers": [...]}; at most ${MAX_BATCH} per call`)

export const injectResultSchema = z.object({
  id: transferId.nullable().describe('null when the request is too broken to name its destination'),
  status: z.enum(['created', 'unchanged', 'superseded', 'rejected']),
  error: fieldErrorSchema.optional().describe('the first problem of a rejected request'),
  errors: z.array(fieldErrorSchema).optional().describe('every problem of a rejected request'),
})
export type InjectItemResult = z.infer<typeof injectResultSchema>

export const injectResponseSchema = z.object({
  results: z.array(injectResultSchema).describe('one per request, in request order'),
  error: errorDetailSchema
    .optional()
    .describe(
      'present with 400 when no request was accepted, and (code answer-cut) when the answer reached api.limits.answerBytes and rejected requests from some position on are answered without their errors',
    ),
})
export type InjectResponse = z.infer<typeof injectResponseSchema>

export const transferRecordSchema = z
  .object({
    id: transferId,
    user: z.string(),
    group: z.string().nullable(),
    role: z.string().nullable(),
    task: z.string(),
    jobId: z.string(),
    jobRetry: z.number(),
    type: z.enum(['output', 'log']),
    source: z.string(),
    sourceLfn: z.string(),
    destination: z.string(),
    destinationLfn: z.string(),
    size: z.number(),
    checksums: z.object({ adler32: z.string() }),
    priority: z.number(),
    activity: z.string(),
    publish: z.boolean(),
    dataset: z.string().nullable(),
    callbackUrl: z.string().nullable(),
    state,
    holdReason: z.string().nullable(),
    attempt: z.number(),
    maxAttempts: z.number(),
    submissions: z.number(),
    nextAttemptAt: epochMs.nullable(),
    engine: z.string().nullable(),
    engineJobId: z.string().nullable(),
    engineFileId: z.string().nullable(),
    agentId: z.string().nullable(),
    method: z.string().nullable(),
    failureClass: z.enum(FAILURE_CLASSES).nullable(),
    failureReason: z.string().nullable(),
    supersedePending: z.boolean(),
    createdAt: epochMs,
    updatedAt: epochMs,
    submittedAt: epochMs.nullable(),
    finishedAt: epochMs.nullable(),
    sourceCleanup: z.enum(['NONE', 'PENDING', 'DONE', 'FAILED', 'SKIPPED']),
    cleanupAt: epochMs.nullable(),
    publicationState: z.enum(['NOT_REQUIRED', 'PENDING', 'PUBLISHING', 'PUBLISHED', 'FAILED']),
    blockName: z.string().nullable(),
    publicationClass: z.enum(['catalog-transient', 'catalog-permanent']).nullable(),
    publicationReason: z.string().nullable(),
  })
  .meta({ id: 'Transfer' })

export const historyEventSchema = z
  .object({
    id: z
      .number()
      .describe(
        'event id: the SSE id and Last-Event-ID; resume from the last one received (events come in commit order; on PostgreSQL ids are unique but not always increasing)',
      ),
    at: epochMs,
    transferId,
    user: z.string(),
    task: z.string(),
    from: state.nullable(),
    to: state,
    reason: z.string(),
    attempt: z.number(),
    engineJobId: z.string().nullable(),
    actor: z.string(),
    publication: publicationState
      .nullable()
      .describe(
        'the file\'s publication state after this event; publication events have from = to = DONE and a reason starting with "publication"',
      ),
  })
  .meta({ id: 'TransferEvent' })
export type TransferEvent = z.infer<typeof historyEventSchema>

/** A duration in a query: `30s`, `5m`, `2h`, or seconds. */
export const durationParam = (fallback: string, maxMs: number) =>
  z
    .string()
    .default(fallback)
    .transform((v, ctx) => {
      try {
        return Math.min(parseDuration(/^\d+(\.\d+)?$/.test(v) ? Number(v) : v), maxMs)
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message.replace(/^duration: /, '') })
        return z.NEVER
      }
    })

/** The latest time a query may name: the end of the year 9999 (anything later is a typo, not a time). */
const MAX_QUERY_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
/** ISO 8601 as the API reads it: a date, or a date and time with an optional fraction and zone (UTC if none). */
const ISO_8601 = /^(\d{4}-\d{2}-\d{2})(?:T(\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)(Z|[+-]\d{2}:\d{2})?)?$/

/** Epoch milliseconds of a query time, or null: a whole number of ms, or ISO 8601, from 1970 to the year 9999. */
function queryTime(v: string): number | null {
  let ms: number
  if (/^\d{1,16}$/.test(v)) ms = Number(v)
  else {
    const iso = ISO_8601.exec(v)
    // Date.parse alone takes "-5" for May 2001 and "1.5" for January 2001
    if (!iso) return null
    ms = Date.parse(iso[2] === undefined ? iso[1]! : `${iso[1]}T${iso[2]}${iso[3] ?? 'Z'}`)
  }
  return Number.isSafeInteger(ms) && ms >= 0 && ms <= MAX_QUERY_TIME ? ms : null
}

/** A time in a query: ISO 8601 or epoch milliseconds; anything else is a 400 that shows the forms. */
const timeParam = z.string().transform((v, ctx) => {
  const ms = queryTime(v)
  if (ms === null) {
    ctx.addIssue({
      code: 'custom',
      message: `"${v.slice(0, 40)}" is not a time: give an ISO 8601 time (e.g. 2026-01-31T12:00:00Z) or epoch milliseconds (a whole number ≥ 0), from 1970 to the year 9999`,
    })
    return z.NEVER
  }
  return ms
})

export const listQuerySchema = z.strictObject({
  user: z.string().optional(),
  task: z.string().optional(),
  state: state.optional(),
  source: z.string().optional(),
  destination: z.string().optional(),
  class: z.enum(FAILURE_CLASSES).optional().describe('failure class'),
  updatedSince: timeParam.optional().describe('ISO 8601 or epoch milliseconds'),
  cursor: z.string().optional().describe('the `next` of the previous page'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
})
export type ListQuery = z.input<typeof listQuerySchema>

export const listResponseSchema = z.object({
  items: z.array(transferRecordSchema),
  next: z.string().nullable().describe('cursor of the next page; null on the last'),
})
export type ListResponse = z.infer<typeof listResponseSchema>

export const idParamsSchema = z.object({ id: transferId })

export const explanationSchema = z.object({
  record: transferRecordSchema,
  timeline: z.array(historyEventSchema),
  why: z.string().describe('why the file is where it is, and what happens next'),
  hint: z.string().nullable(),
  publication: z
    .object({
      state: publicationState,
      why: z.string().describe('why the file is (not yet) published, and what happens next'),
      block: z.string().nullable(),
    })
    .nullable()
    .describe('null when the request did not ask for publication (publish: false, or a log file)'),
  hold: z
    .object({
      class: z.string().describe('quota, credential, ...'),
      site: z.string().describe("the destination held, or '*' for every site"),
      reason: z
        .string()
        .describe(
          "a quota admission's hold says the bytes waiting, the bytes free and where that figure came from",
        ),
      since: z.number(),
      until: z.number().describe('when the hold is looked at again (epoch milliseconds)'),
    })
    .nullable()
    .optional()
    .describe('the hold that keeps this waiting file back; null when none'),
})
export type ExplanationResponse = z.infer<typeof explanationSchema>

export const selectorBodySchema = z
  .strictObject({
    ids: z.array(transferId).min(1).max(MAX_BATCH).optional(),
    task: z.string().min(1).max(256).optional(),
    reason: z.string().max(500).optional().describe('recorded in each file history (kill)'),
  })
  .refine((s) => s.ids !== undefined || s.task !== undefined, {
    message: 'name the transfers: "ids" (a list of transfer ids) or "task"',
    path: ['ids'],
  })
export type SelectorBody = z.input<typeof selectorBodySchema>

export const killResponseSchema = z.object({
  killed: z.number().describe('ended KILLED now'),
  killing: z.number().describe('being cancelled at their engine; KILLED once it confirms'),
  notFound: z.array(z.string()).describe('ids that name no transfer'),
})
export const retryResponseSchema = z.object({
  retried: z.number(),
  refused: z.number().describe('already DONE: a new job retry with a higher jobRetry replaces a DONE file'),
  notFound: z.array(z.string()),
})
export const publicationRetryResponseSchema = z.object({
  republished: z.number().describe('files whose FAILED block is registered again, with its attempts reset'),
  requeued: z.number().describe('files refused on their own: PENDING again, they join a new block'),
  blocks: z.number().describe('FAILED blocks published again'),
  notFailed: z.number().describe('files named whose publication has not FAILED: nothing to retry'),
  notFound: z.array(z.string()).describe('ids that name no transfer'),
})
export type PublicationRetryResponse = z.infer<typeof publicationRetryResponseSchema>
export type KillResponse = z.infer<typeof killResponseSchema>
export type RetryResponse = z.infer<typeof retryResponseSchema>

export const taskParamsSchema = z.object({ task: z.string().min(1).max(256) })

export const taskSummarySchema = z
  .object({
    task: z.string(),
    total: z.number(),
    terminal: z.number(),
    complete: z.boolean().describe('every file is DONE, FAILED or KILLED'),
    states: z.partialRecord(state, z.number()),
    classes: z.record(z.string(), z.number()).describe('failure class → files'),
    counts: z.array(
      z.object({ state, failureClass: z.string().nullable(), n: z.number(), bytes: z.number() }),
    ),
    bytes: z.object({ total: z.number(), done: z.number() }),
    failures: z.array(
      z.object({ state, failureClass: z.string().nullable(), reason: z.string(), n: z.number() }),
    ),
    publication: publicationCountsSchema,
  })
  .meta({ id: 'TaskSummary' })
export type TaskSummaryResponse = z.infer<typeof taskSummarySchema>

/** Most a single long-poll holds the connection; `aso wait` asks again until its own timeout. */
export const MAX_WAIT_MS = 5 * 60_000

export const waitQuerySchema = z.strictObject({
  timeout: durationParam('30s', MAX_WAIT_MS).describe('e.g. 30s, 5m (at most 5m); default 30s'),
})

export const eventsQuerySchema = z.strictObject({
  user: z.string().optional(),
  task: z.string().optional(),
  lastEventId: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe('resume after this event id (the Last-Event-ID header takes precedence)'),
})

const stateCounts = z.partialRecord(state, z.number())

export const linksResponseSchema = z.object({
  links: z.array(
    z.object({
      link: z.string(),
      source: z.string(),
      destination: z.string(),
      maxActive: z.number(),
      maxFilesPerJob: z.number(),
      paused: z.boolean(),
      engine: z.string(),
      adaptive: linkAdaptiveSchema.nullable(),
      active: z.number().describe('files SUBMITTING, SUBMITTED or KILLING'),
      queued: z.number().describe('files NEW'),
      states: stateCounts,
    }),
  ),
})
export type LinksResponse = z.infer<typeof linksResponseSchema>

export const usersResponseSchema = z.object({
  users: z.array(
    z.object({
      user: z.string(),
      role: z.enum(['user', 'operator', 'admin']),
      weight: z.number(),
      states: stateCounts,
    }),
  ),
})
export type UsersResponse = z.infer<typeof usersResponseSchema>

export const statusQuerySchema = z.strictObject({ user: z.string().optional(), task: z.string().optional() })

export const statusResponseSchema = z.object({
  total: z.number(),
  states: stateCounts,
  bytes: stateCounts,
  links: z.array(z.object({ link: z.string(), states: stateCounts })),
  users: z.array(z.object({ user: z.string(), states: stateCounts })),
  publication: publicationCountsSchema,
})
export type StatusResponse = z.infer<typeof statusResponseSchema>

export const whoamiResponseSchema = z.object({
  name: z.string(),
  role: z.enum(['user', 'operator', 'admin']),
  groups: z.array(z.string()).nullable(),
  vomsRoles: z.array(z.string()),
  method: z.enum(['certificate', 'token', 'insecure-dev']),
  dn: z.string().optional(),
})
export type WhoamiResponse = z.infer<typeof whoamiResponseSchema>

export const healthResponseSchema = z.object({
  status: z.enum(['ok', 'degraded', 'down']),
  store: z.object({ ok: z.boolean(), error: z.string().optional() }),
  loops: z.record(
    z.string(),
    z.object({ ok: z.boolean(), lastRunAt: epochMs.nullable(), lastError: z.string().nullable() }),
  ),
  webhooks: z.object({ pending: z.number(), failed: z.number() }).optional(),
})
export type HealthResponse = z.infer<typeof healthResponseSchema>
