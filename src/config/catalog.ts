/** The `catalog:` section of aso.yaml: where delivered outputs are published (docs/publication.md). */
import { z } from 'zod'
import { TEMPLATE_PLACEHOLDERS, unknownPlaceholders } from '../domain/publication.js'
import { duration, serviceUrl } from './fields.js'

/** https://, or http:// to this machine only (a test server): credentials never cross a network in clear. */
const catalogUrl = serviceUrl({ example: 'https://rucio.example.org', schemes: 'https://' })

/** A template with `{placeholder}`s: only the known ones, and `required` ones present. */
const template = (fallback: string, allowed: readonly string[], required: readonly string[] = []) =>
  z
    .string()
    .default(fallback)
    .superRefine((v, ctx) => {
      const unknown = unknownPlaceholders(v, allowed)
      if (unknown.length) {
        ctx.addIssue({
          code: 'custom',
          message: `unknown placeholder {${unknown[0]}}; use ${allowed.map((a) => `{${a}}`).join(', ')}`,
        })
      }
      for (const r of required) {
        if (!v.includes(`{${r}}`))
          ctx.addIssue({
            code: 'custom',
            message: `must contain {${r}} (every block needs a name of its own)`,
          })
      }
    })

const userpass = z
  .strictObject({
    type: z.literal('userpass'),
    /** the service's own (privileged) Rucio account, which registers files in users' scopes */
    account: z.string().min(1),
    username: z.string().min(1),
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
  })
  .refine((a) => (a.password === undefined) !== (a.passwordFile === undefined), {
    message:
      'give the password as exactly one of password or passwordFile (a file readable by the agent only)',
  })

export const catalog = z.strictObject({
  type: z.literal('rucio', { error: 'the only catalog type is "rucio"' }),
  url: catalogUrl,
  auth: userpass,
  /** the user's scope */
  scope: template('user.{user}', TEMPLATE_PLACEHOLDERS.scope),
  /** the scope of outputs under /store/group/<group>/ */
  groupScope: template('group.{group}', TEMPLATE_PLACEHOLDERS.groupScope),
  rule: z
    .strictObject({
      /** the account that owns each block's replication rule (and whose quota it counts against) */
      account: template('{user}', TEMPLATE_PLACEHOLDERS.ruleAccount),
    })
    .prefault({}),
  /** ASO site -> RSE; a site not listed maps to an RSE of its own name */
  rses: z
    .record(z.string(), z.string().regex(/^[A-Za-z0-9_-]{1,255}$/, 'RSE names use letters, digits, _ and -'))
    .default({}),
  /** CMS/DBS convention; Rucio's generic naming schema refuses '#': use e.g. "{dataset}_{uuid}" there */
  blockName: template('{dataset}#{uuid}', TEMPLATE_PLACEHOLDERS.blockName, ['uuid']),
  maxFilesPerBlock: z.number().int().min(1).max(100_000).default(100),
  /** a block still open this long after its first file joined is closed anyway */
  blockCloseAfter: duration('5h'),
  /** catalog calls that fail with catalog-transient are tried again, with backoff, this many times */
  maxAttempts: z.number().int().min(1).max(100).default(5),
  backoff: z
    .strictObject({
      initial: duration('1m'),
      factor: z.number().min(1).default(2),
      max: duration('1h'),
    })
    .prefault({}),
  /** per HTTP request */
  timeout: duration('60s'),
})
