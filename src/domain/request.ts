import { z } from 'zod'
import type { FieldError } from './errors.js'
import { actsOnAll, type Identity } from './identity.js'
import { transferId } from './ids.js'
import { type Areas, inTempArea, inUserNamespace, lfnProblem } from './lfn.js'
import { blockName, DATASET_NAME, isPublishable } from './publication.js'
import type { TransferRequest } from './transfer.js'

/** Most items accepted in one inject call (API body or one CLI transaction). */
export const MAX_BATCH = 10_000

/** Most fields of one request looked at: a request has 19, and zod reports each unknown one. */
export const MAX_REQUEST_FIELDS = 64
/** Most errors reported for one request; the rest are counted in a last note. */
export const MAX_ERRORS_PER_REQUEST = 20

const NAME = /^[A-Za-z0-9._-]{1,64}$/
const TASK = /^[A-Za-z0-9._:-]{1,256}$/
const SITE = /^[A-Za-z0-9_-]{1,64}$/

/** A type error that says "is required" when the field is missing and what it must be otherwise. */
function typeError(required: string, wrongType: string) {
  return (issue: { input?: unknown }) => (issue.input === undefined ? `is required: ${required}` : wrongType)
}

const lfnField = z.string({
  error: typeError(
    'an LFN such as /store/user/alice/file.root',
    'must be a string LFN such as /store/user/alice/file.root',
  ),
})
const siteField = z
  .string({ error: typeError('a site name such as T2_IT_Bari', 'must be a site name such as T2_IT_Bari') })
  .regex(SITE, 'must be a site name of letters, digits, _ and - (e.g. T2_IT_Bari)')

/** The shape of one inject request as it arrives (JSON), before the checks that need context. */
export const injectRequestSchema = z.strictObject({
  user: z
    .string({ error: 'is required: the username that owns the file' })
    .regex(NAME, 'must be 1-64 of A-Z a-z 0-9 . _ -'),
  group: z.string().regex(NAME, 'must be a group name of 1-64 of A-Z a-z 0-9 . _ -').nullish(),
  role: z.string().regex(NAME, 'must be a role name of 1-64 of A-Z a-z 0-9 . _ -').nullish(),
  task: z
    .string({ error: 'is required: the task (workflow) name' })
    .regex(TASK, 'must be 1-256 of A-Z a-z 0-9 . _ : -'),
  jobId: z.union(
    [z.string().regex(TASK, 'must be 1-256 of A-Z a-z 0-9 . _ : -'), z.number().int().nonnegative()],
    {
      error: 'is required: the id of the job that wrote the file (string or integer)',
    },
  ),
  jobRetry: z
    .number({ error: 'must be an integer >= 0' })
    .int('must be an integer >= 0')
    .nonnegative()
    .optional(),
  type: z.enum(['output', 'log'], { error: 'must be "output" or "log"' }).optional(),
  source: siteField,
  sourceLfn: lfnField,
  destination: siteField,
  destinationLfn: lfnField,
  size: z
    .number({ error: typeError('the file size in bytes the job measured', 'must be a number of bytes') })
    .int('must be a whole number of bytes')
    .nonnegative('must be >= 0')
    .max(Number.MAX_SAFE_INTEGER),
  checksums: z.object(
    {
      adler32: z
        .string({
          error: typeError('the adler32 the job computed, 8 hex digits', 'must be a string of 8 hex digits'),
        })
        .regex(/^[0-9a-fA-F]{1,8}$/, 'must be 1-8 hexadecimal digits'),
    },
    {
      error: typeError(
        'an object {"adler32": "<8 hex digits>"}',
        'must be an object {"adler32": "<8 hex digits>"}',
      ),
    },
  ),
  priority: z
    .number()
    .int('must be an integer 1..5')
    .min(1, 'must be 1..5')
    .max(5, 'must be 1..5')
    .optional(),
  activity: z
    .string()
    .regex(/^[A-Za-z0-9 ._-]{1,64}$/, 'must be 1-64 of letters, digits, space . _ -')
    .optional(),
  publish: z.boolean({ error: 'must be true or false' }).optional(),
  dataset: z.string().regex(DATASET_NAME, 'must be a dataset name /Primary/Processed/TIER').nullish(),
  callbackUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).nullish(),
})

export type InjectRequestInput = z.input<typeof injectRequestSchema>

/** What validation needs to know besides the request: who calls, what sites exist, their areas. */
export interface RequestContext {
  caller: Identity
  /** groups of a user the caller injects for (operators); null = unknown, accept any */
  groupsOf(user: string): readonly string[] | null
  /** the areas of a known site, or undefined for an unknown site */
  siteAreas(site: string): Areas | undefined
  /** whether a site can map this LFN to a storage URL; returns the reason when it cannot */
  pfnProblem?(site: string, lfn: string): string | null
  /** whether a callback URL's host is on the allow-list; returns the reason when not */
  callbackProblem?(url: string): string | null
  /** the configured catalog's block name template, or null when none is configured (publish: true is refused) */
  catalog?: { blockName: string } | null
}

export type ValidationResult =
  | { ok: true; id: string; request: TransferRequest }
  | { ok: false; id: string | null; errors: FieldError[] }

const KNOWN_FIELDS = Object.keys(injectRequestSchema.shape).join(', ')

function describeIssue(issue: z.core.$ZodIssue): FieldError[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((k, i) => ({
      field: [...issue.path, k.slice(0, 100)].join('.'),
      // the list of known fields once, not with every misspelt one
      message:
        i === 0
          ? `is not a known field; check its spelling (known: ${KNOWN_FIELDS})`
          : 'is not a known field',
    }))
  }
  const field = issue.path.join('.') || '(request)'
  const message = issue.message.startsWith('Invalid input')
    ? `has the wrong type: ${issue.message.replace('Invalid input: ', '')}`
    : issue.message
  return [{ field, message }]
}

/** Applies defaults to a shape-valid request. */
function normalise(r: z.output<typeof injectRequestSchema>): TransferRequest {
  return {
    user: r.user,
    group: r.group ?? null,
    role: r.role ?? null,
    task: r.task,
    jobId: String(r.jobId),
    jobRetry: r.jobRetry ?? 0,
    type: r.type ?? 'output',
    source: r.source,
    sourceLfn: r.sourceLfn,
    destination: r.destination,
    destinationLfn: r.destinationLfn,
    size: r.size,
    checksums: { adler32: r.checksums.adler32.toLowerCase().padStart(8, '0') },
    priority: r.priority ?? 3,
    activity: r.activity ?? 'ASO',
    publish: r.publish ?? false,
    dataset: r.dataset ?? null,
    callbackUrl: r.callbackUrl ?? null,
  }
}

/** Checks that need the caller and the site catalog: identity, LFN rules, sites, namespaces. */
function contextErrors(r: TransferRequest, ctx: RequestContext): FieldError[] {
  const errors: FieldError[] = []
  const { caller } = ctx
  if (!actsOnAll(caller) && r.user !== caller.name) {
    errors.push({
      field: 'user',
      message: `you are authenticated as "${caller.name}" and may only inject transfers as yourself, not as "${r.user}"`,
    })
  }
  const groups = r.user === caller.name ? caller.groups : ctx.groupsOf(r.user)
  if (r.group !== null && groups !== null && !groups.includes(r.group)) {
    errors.push({
      field: 'group',
      message: `"${r.user}" is not a member of group "${r.group}" (member of: ${groups.join(', ') || 'none'})`,
    })
  }
  if (r.role !== null && r.role !== 'NULL' && r.user === caller.name && !caller.vomsRoles.includes(r.role)) {
    errors.push({ field: 'role', message: `your identity does not hold the role "${r.role}"` })
  }
  const userGroups = groups ?? (r.group ? [r.group] : [])
  for (const [field, site, lfn, kind] of [
    ['source', r.source, r.sourceLfn, 'source'],
    ['destination', r.destination, r.destinationLfn, 'destination'],
  ] as const) {
    const lfnField = `${field}Lfn`
    const problem = lfnProblem(lfn)
    if (problem) {
      errors.push({ field: lfnField, message: `"${lfn.slice(0, 200)}" ${problem}` })
      continue
    }
    const areas = ctx.siteAreas(site)
    if (!areas) {
      errors.push({
        field,
        message: `unknown site "${site}": it is not in the site catalog (aso.yaml sites:)`,
      })
      continue
    }
    if (kind === 'source' && !inTempArea(lfn, r.user, userGroups, areas)) {
      errors.push({
        field: lfnField,
        message: `"${lfn}" is outside ${r.user}'s temporary area at ${site} (${areas.tempArea.replace('{user}', r.user)}); a request may only read the user's own job outputs`,
      })
      continue
    }
    if (kind === 'destination' && !inUserNamespace(lfn, r.user, userGroups, areas)) {
      errors.push({
        field: lfnField,
        message: `"${lfn}" is outside the namespace ${r.user} may write at ${site} (${areas.userArea.replace('{user}', r.user)}, or ${areas.groupArea} of a group they belong to)`,
      })
      continue
    }
    const pfn = ctx.pfnProblem?.(site, lfn)
    if (pfn) errors.push({ field: lfnField, message: pfn })
  }
  errors.push(...publicationErrors(r, ctx))
  if (r.callbackUrl !== null) {
    const problem = ctx.callbackProblem?.(r.callbackUrl)
    if (problem) errors.push({ field: 'callbackUrl', message: problem })
  }
  return errors
}

/** Rucio's longest DID name; a block's name (the dataset and a 36-character uuid) must fit in it */
const MAX_CATALOG_NAME = 250

/** A request that asks for publication needs a dataset and a catalog: refused now, not after the transfer. */
function publicationErrors(r: TransferRequest, ctx: RequestContext): FieldError[] {
  if (!isPublishable(r) || ctx.catalog === undefined) return []
  if (ctx.catalog === null) {
    return [
      {
        field: 'publish',
        message:
          'this ASO publishes into no catalog (aso.yaml has no catalog: section): send publish: false, or ask the operator to configure catalog:',
      },
    ]
  }
  if (r.dataset === null) {
    return [
      {
        field: 'dataset',
        message:
          'is required when publish is true: name the dataset the outputs belong to, e.g. "/Primary/Processed-v1/USER"',
      },
    ]
  }
  const block = blockName(ctx.catalog.blockName, r.dataset, r.user, '00000000-0000-0000-0000-000000000000')
  if (block.length > MAX_CATALOG_NAME) {
    return [
      {
        field: 'dataset',
        message: `is too long: its blocks would be named with ${block.length} characters (${ctx.catalog.blockName}), and the catalog takes at most ${MAX_CATALOG_NAME}`,
      },
    ]
  }
  return []
}

/** At most `MAX_ERRORS_PER_REQUEST` errors, the last of them counting those left out. */
function capErrors(errors: FieldError[]): FieldError[] {
  if (errors.length <= MAX_ERRORS_PER_REQUEST) return errors
  const shown = errors.slice(0, MAX_ERRORS_PER_REQUEST - 1)
  const more = errors.length - shown.length
  return [...shown, { field: '(request)', message: `and ${more} more errors: fix these first` }]
}

/** Validates one raw request: every error names its field (at most MAX_ERRORS_PER_REQUEST are reported). */
export function validateRequest(raw: unknown, ctx: RequestContext): ValidationResult {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, id: null, errors: [{ field: '(request)', message: 'must be a JSON object' }] }
  }
  const r = raw as Record<string, unknown>
  const id =
    typeof r.destination === 'string' && typeof r.destinationLfn === 'string'
      ? transferId(r.destination, r.destinationLfn)
      : null
  // counted before zod looks at them: a request of 100,000 keys costs one error, not 100,000
  if (Object.keys(r).length > MAX_REQUEST_FIELDS) {
    return {
      ok: false,
      id,
      errors: [
        {
          field: '(request)',
          message: `has more than ${MAX_REQUEST_FIELDS} fields; a request has at most ${Object.keys(injectRequestSchema.shape).length} (${KNOWN_FIELDS})`,
        },
      ],
    }
  }
  const parsed = injectRequestSchema.safeParse(raw)
  if (!parsed.success) {
    return { ok: false, id, errors: capErrors(parsed.error.issues.flatMap(describeIssue)) }
  }
  const request = normalise(parsed.data)
  const named = transferId(request.destination, request.destinationLfn)
  const errors = contextErrors(request, ctx)
  return errors.length
    ? { ok: false, id: named, errors: capErrors(errors) }
    : { ok: true, id: named, request }
}
