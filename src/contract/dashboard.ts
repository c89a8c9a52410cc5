/**
 * Shapes of the dashboard's endpoints (aggregates under /api/v1/dashboard, the task list, the audit list and the
 * operators' link and weight settings): they validate, document (OpenAPI) and type the web UI's calls.
 */
import { z } from 'zod'
import { FAILURE_CLASSES } from '../domain/failures.js'
import { BLOCK_STATES, PUBLICATION_STATES } from '../domain/publication.js'
import { TRANSFER_STATES } from '../domain/states.js'
import { linkAdaptiveSchema } from './link-limits.js'
import { durationParam } from './schemas.js'

const state = z.enum(TRANSFER_STATES)
const stateCounts = z.partialRecord(state, z.number())
const epochMs = z.number().describe('epoch milliseconds, UTC')
const scope = z
  .object({
    user: z.string().nullable().describe("whose files are counted: the caller's, or null for everyone"),
  })
  .describe('plain users see their own numbers; operators everyone’s, or one user’s with ?user=')

export const scopeQuerySchema = z.strictObject({
  user: z.string().optional().describe('operators: only this user’s files'),
})

const finishedTotals = z.object({
  done: z.number(),
  failed: z.number(),
  killed: z.number(),
  doneBytes: z.number(),
  failedBytes: z.number(),
  successRate: z.number().nullable().describe('DONE / (DONE + FAILED); null when none ended'),
})

export const overviewResponseSchema = z
  .object({
    scope,
    asOf: epochMs,
    total: z.number(),
    states: stateCounts,
    bytes: stateCounts,
    lastHour: finishedTotals,
    successRate: z.number().nullable().describe('DONE / (DONE + FAILED) of every record in the store'),
    activeEngineJobs: z.number().describe('engine jobs submitting or submitted'),
    oldestWaiting: z
      .object({
        id: z.string().nullable(),
        user: z.string(),
        source: z.string(),
        destination: z.string(),
        createdAt: epochMs,
      })
      .nullable()
      .describe('the NEW file injected longest ago'),
  })
  .meta({ id: 'DashboardOverview' })
export type OverviewResponse = z.infer<typeof overviewResponseSchema>

export const timeseriesQuerySchema = z.strictObject({
  range: z.enum(['hour', 'week']).default('hour').describe('hour: per minute; week: per hour'),
  user: z.string().optional().describe('operators: only this user’s files'),
})

export const timeseriesResponseSchema = z
  .object({
    scope,
    range: z.enum(['hour', 'week']),
    bucketMs: z.number(),
    from: epochMs,
    to: epochMs,
    points: z.array(
      z.object({
        at: epochMs.describe('start of the bucket'),
        done: z.number(),
        failed: z.number(),
        killed: z.number(),
        doneBytes: z.number(),
        failedBytes: z.number(),
      }),
    ),
  })
  .meta({ id: 'DashboardTimeseries' })
export type TimeseriesResponse = z.infer<typeof timeseriesResponseSchema>

export const dashboardLinksResponseSchema = z
  .object({
    scope,
    sources: z.array(z.string()),
    destinations: z.array(z.string()),
    links: z.array(
      z.object({
        link: z.string(),
        source: z.string(),
        destination: z.string(),
        maxActive: z.number(),
        paused: z.boolean(),
        engine: z.string(),
        adaptive: linkAdaptiveSchema.nullable(),
        active: z.number().describe('files an engine holds on the link, of all users (the limit is shared)'),
        queued: z.number().describe('files waiting (NEW), in scope'),
        states: stateCounts,
        lastHour: z.object({
          done: z.number(),
          failed: z.number(),
          killed: z.number(),
          bytes: z.number().describe('bytes delivered'),
          throughput: z.number().describe('bytes per second delivered, averaged over the hour'),
          successRate: z.number().nullable(),
        }),
        topFailureClass: z
          .object({ class: z.enum(FAILURE_CLASSES), files: z.number(), hint: z.string() })
          .nullable()
          .describe('the most frequent failure class of the last hour'),
      }),
    ),
  })
  .meta({ id: 'DashboardLinks' })
export type DashboardLinksResponse = z.infer<typeof dashboardLinksResponseSchema>

export const problemsQuerySchema = z.strictObject({
  stuckAfter: durationParam('30m', 30 * 86_400_000).describe('non-terminal longer than this is stuck'),
  proxyWithin: durationParam('24h', 30 * 86_400_000).describe('proxies expiring within this are listed'),
  user: z.string().optional().describe('operators: only this user’s files'),
})

export const problemsResponseSchema = z
  .object({
    scope,
    asOf: epochMs,
    stuckAfterMs: z.number(),
    queues: z.array(
      z.object({
        link: z.string(),
        user: z.string(),
        waiting: z.number(),
        oldestId: z.string().nullable(),
        oldestCreatedAt: epochMs,
        why: z.string().describe('why the queue does not move: paused, at its limit, held, or waiting'),
      }),
    ),
    engineJobs: z.array(
      z.object({
        jobId: z.string(),
        engine: z.string(),
        user: z.string(),
        link: z.string(),
        state: z.string(),
        files: z.number(),
        lastProgressAt: epochMs,
        cancelRequestedAt: epochMs.nullable(),
      }),
    ),
    retries: z.array(
      z.object({
        id: z.string(),
        user: z.string(),
        task: z.string(),
        link: z.string(),
        nextAttemptAt: epochMs,
        failureClass: z.string().nullable(),
        failureReason: z.string().nullable(),
      }),
    ),
    holds: z.array(
      z.object({
        user: z.string(),
        site: z.string(),
        class: z.string(),
        reason: z.string(),
        since: epochMs,
        until: epochMs,
        hint: z.string(),
      }),
    ),
    sites: z
      .array(
        z.object({
          site: z.string(),
          side: z.enum(['source', 'destination']),
          lastHour: z.object({ files: z.number(), failed: z.number(), rate: z.number() }),
          before: z.object({ files: z.number(), failed: z.number(), rate: z.number() }),
          topFailureClass: z.string().nullable(),
        }),
      )
      .describe("over everyone's files, for users too: a site's health is no user's own"),
    publication: z
      .object({
        failed: z.array(
          z.object({
            id: z.string(),
            user: z.string(),
            task: z.string(),
            dataset: z.string().nullable(),
            block: z.string().nullable(),
            failureClass: z.string().nullable().describe('catalog-transient or catalog-permanent'),
            failureReason: z.string().nullable(),
            at: epochMs,
          }),
        ),
        blocks: z.array(
          z.object({
            name: z.string(),
            user: z.string(),
            dataset: z.string(),
            state: z.enum(BLOCK_STATES),
            files: z.number(),
            attempts: z.number().describe('failed catalog calls since the block closed (or was retried)'),
            nextAttemptAt: epochMs.nullable(),
            failureClass: z.string().nullable(),
            failureReason: z.string().nullable(),
          }),
        ),
      })
      .describe(
        'files whose publication FAILED (aso publish --retry gives them a new round) and blocks the catalog refused: FAILED, or still retried after catalog-transient failures',
      ),
    couch: z
      .object({
        database: z.string(),
        lagSeconds: z
          .number()
          .nullable()
          .describe('since the feed was last read to its head; null: never read'),
        lagging: z.boolean().describe('the lag is over ingest.couchdb.lagWarning'),
        pending: z.number().describe('documents whose write-back is due'),
        conflicts: z.number(),
        forbidden: z.number(),
        refused: z.number(),
        lastError: z.string().nullable(),
      })
      .nullable()
      .optional()
      .describe('the CouchDB bridge (aso.yaml ingest.couchdb), for operators; absent without one'),
    proxies: z.object({
      checked: z.boolean().describe('false: no engine acts with users’ own proxies (no fts3 configured)'),
      expiring: z.array(
        z.object({
          user: z.string(),
          notAfter: epochMs.nullable(),
          problem: z.string().describe('what is wrong and what to do'),
        }),
      ),
    }),
  })
  .meta({ id: 'DashboardProblems' })
export type ProblemsResponse = z.infer<typeof problemsResponseSchema>

export const taskListQuerySchema = z.strictObject({
  user: z.string().optional(),
  q: z.string().max(256).optional().describe('part of the task name, any case'),
  status: z.enum(['all', 'active', 'complete', 'failed']).default('all'),
  cursor: z.string().optional().describe('the `next` of the previous page'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
})

export const taskListResponseSchema = z
  .object({
    items: z.array(
      z.object({
        task: z.string(),
        user: z.string(),
        total: z.number(),
        states: z.record(state, z.number()),
        bytes: z.object({ total: z.number(), done: z.number() }),
        publication: z
          .partialRecord(z.enum(PUBLICATION_STATES), z.number())
          .describe('files per publication state, of those that asked for publication (empty: none did)'),
      }),
    ),
    next: z.string().nullable(),
  })
  .meta({ id: 'TaskList' })
export type TaskListResponse = z.infer<typeof taskListResponseSchema>

export const auditQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.coerce.number().int().min(1).optional().describe('the `next` of the previous page'),
})

export const auditResponseSchema = z
  .object({
    items: z.array(
      z.object({
        id: z.number(),
        at: epochMs,
        actor: z.string(),
        action: z.string(),
        target: z.string(),
        detail: z.unknown(),
      }),
    ),
    next: z.number().nullable(),
  })
  .meta({ id: 'AuditLog' })
export type AuditResponse = z.infer<typeof auditResponseSchema>

export const linkParamsSchema = z.object({
  link: z
    .string()
    .regex(
      /^[A-Za-z0-9_.-]{1,128}->[A-Za-z0-9_.-]{1,128}$/,
      'must be SOURCE->DESTINATION, e.g. T2_IT_Bari->T2_CH_CERN',
    ),
})

export const linkChangeBodySchema = z
  .strictObject({
    paused: z.boolean().optional(),
    maxActive: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .nullable()
      .optional()
      .describe(
        'files in flight at most (on an adaptive link it pins the limit); null: back to the limit of aso.yaml, or unpinned',
      ),
  })
  .refine((b) => b.paused !== undefined || b.maxActive !== undefined, {
    message: 'say what to change: "paused" (true or false) or "maxActive" (a number, or null)',
    path: ['paused'],
  })
export type LinkChangeBody = z.input<typeof linkChangeBodySchema>

export const linkSettingResponseSchema = z.object({
  link: z.string(),
  maxActive: z.number(),
  paused: z.boolean(),
  adaptive: linkAdaptiveSchema.nullable().optional(),
})
export type LinkSettingResponse = z.infer<typeof linkSettingResponseSchema>

export const userParamsSchema = z.object({
  user: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a username'),
})

export const weightBodySchema = z.strictObject({
  weight: z
    .number()
    .positive()
    .max(1000)
    .describe('fair-share weight; 1 is the default, 2 gets twice the share'),
})
export type WeightBody = z.input<typeof weightBodySchema>

export const weightResponseSchema = z.object({ user: z.string(), weight: z.number() })
export type WeightResponse = z.infer<typeof weightResponseSchema>

export const failureClassesResponseSchema = z
  .object({ classes: z.array(z.object({ class: z.enum(FAILURE_CLASSES), hint: z.string() })) })
  .meta({ id: 'FailureClasses' })
export type FailureClassesResponse = z.infer<typeof failureClassesResponseSchema>

export const loginOptionsResponseSchema = z.object({
  insecureDev: z.boolean().describe('identity from the X-ASO-User header: one-machine trials only'),
  tokens: z.boolean().describe('bearer tokens of a configured issuer are accepted'),
  certificates: z.boolean().describe('client certificates (and proxies) are accepted'),
  certificatePresented: z
    .boolean()
    .describe('this connection presented a client certificate (whoami tells whether it is accepted)'),
})
export type LoginOptionsResponse = z.infer<typeof loginOptionsResponseSchema>
