/**
 * The original post-job step, as far as the CouchDB bridge sees it: a job's outputs left in its site's temporary
 * area and one document per file in `asynctransfer` (`_id` = sha224 of the source LFN, the original's field
 * names and values). A job retry writes its outputs again and posts the document again with `state: new` and a
 * higher `job_retry_count`; a re-post sends the same document again.
 */
import { createHash } from 'node:crypto'
import { adler32 } from 'hash-wasm'
import type { CouchServer } from './couchdb.js'

export type CouchDocument = Record<string, unknown> & { _id: string; _rev?: string }

export interface JobOutput {
  user: string
  workflow: string
  jobid: number
  jobRetry: number
  name: string
  source: string
  destination: string
  data: Buffer
  /** the temp area's suffix: /store/temp/user/<user>.<suffix>/ */
  suffix?: string
}

export function docId(sourceLfn: string): string {
  return createHash('sha224').update(sourceLfn).digest('hex')
}

export function outputLfns(o: Pick<JobOutput, 'user' | 'workflow' | 'name' | 'suffix'>) {
  const dir = o.workflow.replace(/[^A-Za-z0-9_-]/g, '_')
  return {
    temp: `/store/temp/user/${o.user}.${o.suffix ?? 'abc123'}/${dir}/${o.name}`,
    final: `/store/user/${o.user}/${dir}/${o.name}`,
  }
}

/** The document the post-job step wrote for one output. */
export async function postJobDocument(o: JobOutput, now = Date.now()): Promise<CouchDocument> {
  const { temp, final } = outputLfns(o)
  const t = new Date(now).toISOString().replace('T', ' ').replace('Z', '000')
  return {
    _id: docId(temp),
    lfn: temp,
    source_lfn: temp,
    destination_lfn: final,
    source: o.source,
    destination: o.destination,
    user: o.user,
    group: '',
    role: '',
    dn: `/DC=ch/DC=cern/OU=Users/CN=${o.user}`,
    size: o.data.length,
    checksums: { adler32: await adler32(o.data), cksum: '0' },
    type: 'output',
    publish: 0,
    state: 'new',
    retry_count: [],
    failure_reason: '',
    start_time: t,
    end_time: '',
    last_update: Math.floor(now / 1000),
    job_end_time: Math.floor(now / 1000),
    jobid: String(o.jobid),
    job_retry_count: o.jobRetry,
    workflow: o.workflow,
    inputdataset: '/GenericTTbar/HC-CMSSW_9_2_6_91X_mcRun1_realistic_v2-v2/AODSIM',
    dbs_url: 'https://cmsweb.cern.ch/dbs/prod/global/DBSReader',
    publish_dbs_url: 'https://cmsweb.cern.ch/dbs/prod/phys03/DBSWriter',
    rest_host: 'cmsweb.cern.ch',
    rest_uri: '/crabserver/prod/',
  }
}

/**
 * Posts documents as the post-job step did: new ones created, existing ones updated in place (their latest
 * revision read first, as the original's update handler did), every one in state `new`.
 */
export async function postDocuments(
  couch: CouchServer,
  db: string,
  docs: readonly CouchDocument[],
): Promise<void> {
  let todo = [...docs]
  for (let round = 0; todo.length > 0; round++) {
    if (round > 20) throw new Error(`post-job: ${todo.length} documents still conflict after 20 rounds`)
    const existing = await couch.call<{
      rows: { key: string; value?: { rev: string; deleted?: boolean } }[]
    }>('POST', `/${db}/_all_docs`, { keys: todo.map((d) => d._id) })
    const revs = new Map(
      existing.body.rows.filter((r) => r.value && !r.value.deleted).map((r) => [r.key, r.value!.rev]),
    )
    const batch = todo.map((d) => {
      const { _rev: _, ...rest } = d
      const rev = revs.get(d._id)
      return rev ? { ...rest, _rev: rev } : rest
    })
    const r = await couch.call<{ id: string; error?: string }[]>('POST', `/${db}/_bulk_docs`, { docs: batch })
    if (r.status !== 201) throw new Error(`post-job: _bulk_docs answered ${r.status}`)
    const again = new Set(r.body.filter((x) => x.error === 'conflict').map((x) => x.id))
    const other = r.body.filter((x) => x.error && x.error !== 'conflict')
    if (other.length) throw new Error(`post-job: ${JSON.stringify(other.slice(0, 3))}`)
    todo = todo.filter((d) => again.has(d._id))
  }
}
