/**
 * A block's files as replicas at its RSE: the PFN check of a deterministic RSE, the registration (batched),
 * and the read-back that decides which files may be attached. Rucio answers 201 to a replica it already has
 * and keeps that replica's first bytes, adler32 and path, so only the read-back says what Rucio really holds.
 */
import { CatalogError, type CatalogFile } from '../catalog.js'
import type { RucioClient } from './client.js'
import { type RefusalContext, RucioRefusalError, refusalError } from './errors.js'
import { parseJson, quotePlus } from './http.js'
import { samePfn, schemeOf } from './pfn.js'
import type { RseInfo } from './rses.js'

export interface Rejection {
  id: string
  reason: string
}

/** Files that passed a step, and those refused one by one. */
export interface Sorted {
  ok: CatalogFile[]
  rejected: Rejection[]
}

export interface ReplicaStep {
  client: RucioClient
  rse: RseInfo
  scope: string
  ctx: RefusalContext
  batchSize: number
  signal?: AbortSignal
}

/** Refusals of one POST /replicas that concern a file (its name or PFN), not the call as a whole. */
const PER_FILE = new Set([
  'InvalidObject',
  'InvalidPath',
  'RSEFileNameNotSupported',
  'RSEProtocolNotSupported',
])

/** A deterministic RSE: keeps the files whose PFN is the one Rucio computes (lfns2pfns, same scheme). */
export async function checkDeterministicPfns(
  step: ReplicaStep,
  files: readonly CatalogFile[],
): Promise<Sorted> {
  const sorted: Sorted = { ok: [], rejected: [] }
  for (const group of bySchemeInBatches(files, step.batchSize)) {
    const scheme = schemeOf(group[0]!.pfn)
    const query: [string, string][] = group.map((f) => ['lfn', `${step.scope}:${f.lfn}`])
    if (scheme) query.push(['scheme', scheme])
    const path = `/rses/${quotePlus(step.rse.name)}/lfns2pfns`
    const call = { method: 'GET', path, query } as const
    const answer = await step.client.call(call, step.signal)
    if (answer.status !== 200) {
      const err = refusalError(answer, step.client.what(call), step.ctx)
      // no protocol for this scheme at the RSE: these files only
      if (err.refusal.exceptionClass !== 'RSEProtocolNotSupported') throw err
      sorted.rejected.push(...group.map((f) => ({ id: f.id, reason: err.reason })))
      continue
    }
    const pfns = parseJson(answer.text) as Record<string, string> | undefined
    if (typeof pfns !== 'object' || pfns === null) {
      throw new CatalogError(
        'catalog-transient',
        `${step.client.what({ method: 'GET', path })} answered 200 without a PFN map: ${answer.text.slice(0, 200)}; retried later`,
      )
    }
    for (const f of group) {
      const rucioPfn = pfns[`${step.scope}:${f.lfn}`]
      if (rucioPfn !== undefined && samePfn(rucioPfn, f.pfn)) sorted.ok.push(f)
      else
        sorted.rejected.push({
          id: f.id,
          reason:
            `Rucio maps ${step.scope}:${f.lfn} at the deterministic RSE ${step.rse.name} to ${rucioPfn ?? '(no PFN)'}, ` +
            `but ASO wrote it to ${f.pfn}: check the RSE's lfn2pfn algorithm and protocol in Rucio, or the site's destination path`,
        })
    }
  }
  return sorted
}

/**
 * Registers the files as replicas (with their PFN on a non-deterministic RSE, without on a deterministic one:
 * never both in one call, Rucio's `'pfn'` KeyError). A batch refused for one file's name or PFN is registered
 * again file by file, so that only the bad files are rejected.
 */
export async function registerReplicas(step: ReplicaStep, files: readonly CatalogFile[]): Promise<Sorted> {
  const sorted: Sorted = { ok: [], rejected: [] }
  for (let i = 0; i < files.length; i += step.batchSize) {
    const batch = files.slice(i, i + step.batchSize)
    const refusal = await postReplicas(step, batch)
    if (!refusal) sorted.ok.push(...batch)
    else if (batch.length === 1) sorted.rejected.push({ id: batch[0]!.id, reason: refusal.reason })
    else {
      for (const f of batch) {
        const one = await postReplicas(step, [f])
        if (one) sorted.rejected.push({ id: f.id, reason: one.reason })
        else sorted.ok.push(f)
      }
    }
  }
  return sorted
}

/** null when registered; the refusal when it concerns a file; throws when it concerns the call. */
async function postReplicas(step: ReplicaStep, batch: readonly CatalogFile[]): Promise<CatalogError | null> {
  const files = batch.map((f) => ({
    scope: step.scope,
    name: f.lfn,
    bytes: f.bytes,
    adler32: f.adler32,
    ...(step.rse.deterministic ? {} : { pfn: f.pfn }),
  }))
  const call = { method: 'POST', path: '/replicas', json: { rse: step.rse.name, files } } as const
  try {
    await step.client.expect(call, [201], step.ctx, step.signal)
    return null
  } catch (err) {
    const perFile =
      err instanceof RucioRefusalError &&
      err.failureClass === 'catalog-permanent' &&
      PER_FILE.has(err.refusal.exceptionClass)
    if (perFile) return err
    throw err
  }
}

interface ListedReplica {
  name: string
  bytes: number | null
  adler32: string | null
  rses?: Record<string, string[]>
  states?: Record<string, string>
}

/** Reads the replicas back and keeps the files Rucio holds as delivered: bytes, adler32, RSE, state, PFN. */
export async function verifyReplicas(step: ReplicaStep, files: readonly CatalogFile[]): Promise<Sorted> {
  const sorted: Sorted = { ok: [], rejected: [] }
  for (const group of bySchemeInBatches(files, step.batchSize)) {
    const scheme = schemeOf(group[0]!.pfn)
    const json = {
      dids: group.map((f) => ({ scope: step.scope, name: f.lfn })),
      all_states: true,
      ...(scheme ? { schemes: [scheme] } : {}),
    }
    const listed = (await step.client.list(
      { method: 'POST', path: '/replicas/list', json },
      step.ctx,
      step.signal,
    )) as ListedReplica[]
    const byName = new Map(listed.map((r) => [r.name, r]))
    for (const f of group) {
      const problem = replicaProblem(step, f, byName.get(f.lfn))
      if (problem) sorted.rejected.push({ id: f.id, reason: problem })
      else sorted.ok.push(f)
    }
  }
  return sorted
}

const KEEPS_FIRST =
  'Rucio keeps the first values registered under a name: this file cannot be published under this LFN; check who registered it'

/** Why the listed replica is not the delivered file; null when it is. */
function replicaProblem(step: ReplicaStep, f: CatalogFile, r: ListedReplica | undefined): string | null {
  const did = `${step.scope}:${f.lfn}`
  const rse = step.rse.name
  if (!r) return `Rucio lists no replica of ${did} after registering it at ${rse}`
  if (r.bytes !== f.bytes)
    return `Rucio holds ${did} with ${r.bytes} bytes, ASO delivered ${f.bytes} bytes: ${KEEPS_FIRST}`
  if (normalAdler32(r.adler32) !== normalAdler32(f.adler32))
    return `Rucio holds ${did} with adler32 ${r.adler32}, ASO delivered adler32 ${f.adler32}: ${KEEPS_FIRST}`
  const pfns = r.rses?.[rse]
  if (!pfns) return `Rucio lists ${did} at ${Object.keys(r.rses ?? {}).join(', ') || 'no RSE'}, not at ${rse}`
  const state = r.states?.[rse]
  if (state !== 'AVAILABLE')
    return `Rucio holds the replica of ${did} at ${rse} in state ${state}, not AVAILABLE`
  if (!pfns.some((p) => samePfn(p, f.pfn)))
    return `Rucio holds the replica of ${did} at ${rse} at ${pfns.join(', ')}, ASO wrote it to ${f.pfn}: ${KEEPS_FIRST}`
  return null
}

/** Rucio keeps an adler32 as it was given: compare as 8 lower-case hex digits. */
function normalAdler32(a: string | null): string {
  return (a ?? '').toLowerCase().padStart(8, '0')
}

/** The files grouped by PFN scheme (one lfns2pfns or list call asks for one scheme), in batches. */
function bySchemeInBatches(files: readonly CatalogFile[], size: number): CatalogFile[][] {
  const groups = new Map<string, CatalogFile[]>()
  for (const f of files) {
    const key = schemeOf(f.pfn)
    const group = groups.get(key)
    if (group) group.push(f)
    else groups.set(key, [f])
  }
  const out: CatalogFile[][] = []
  for (const group of groups.values())
    for (let i = 0; i < group.length; i += size) out.push(group.slice(i, i + size))
  return out
}
