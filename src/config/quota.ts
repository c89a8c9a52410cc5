/**
 * `sites.<SITE>.quota`: quota-aware admission to that site (docs/quota-admission.md). With the section present,
 * the submitter hands the site no more of a user's bytes than the user's area takes; the rest waits under a
 * `quota` hold instead of failing attempts.
 */
import { z } from 'zod'
import { duration, size } from './fields.js'

export const siteQuota = z
  .strictObject({
    /** ask the storage how much the user's area takes (WebDAV quota-available-bytes, XRootD spaceinfo, statfs) */
    probe: z.boolean().default(true),
    /**
     * each user's area at this site holds this much of what ASO delivers there (bytes delivered plus in
     * flight); used where the storage gives no figure, or with probe: false
     */
    perUser: size().optional(),
    /** how long a storage's figure is reused, and how long a quota hold lasts before ASO looks again */
    recheck: duration('1m'),
    /** a storage that has not answered by then is not waited for: no limit this time, and a warning */
    timeout: duration('10s'),
  })
  .refine((q) => q.probe || q.perUser !== undefined, {
    message:
      'probe: false and no perUser leaves nothing to admit by: set perUser (e.g. 2TB), or drop probe: false',
  })

export type SiteQuotaConfig = z.output<typeof siteQuota>
