/**
 * The container and the block (a Rucio DATASET) of a publication: created or adopted, filled, closed. Every
 * step tolerates having been done before (409 DataIdentifierAlreadyExists, attachments with
 * ignore_duplicate), except what Rucio forbids on a closed dataset: attaching to it (409 UnsupportedOperation
 * "is closed") and closing it again (409 UnsupportedOperation "cannot be changed"), so callers read its
 * status first.
 */
import { CatalogError } from '../catalog.js'
import type { RucioClient } from './client.js'
import type { RefusalContext } from './errors.js'
import { didPath } from './http.js'

export interface DidStep {
  client: RucioClient
  scope: string
  ctx: RefusalContext
  batchSize: number
  signal?: AbortSignal
}

export interface DidStatus {
  type: string
  open: boolean
}

/** Creates the DID, or adopts it when it exists (checking it is of the wanted type). */
export async function ensureDid(
  step: DidStep,
  name: string,
  type: 'DATASET' | 'CONTAINER',
): Promise<DidStatus> {
  const call = { method: 'POST', path: didPath(step.scope, name), json: { type } } as const
  const exists = await step.client.tolerate(
    call,
    [201],
    ['DataIdentifierAlreadyExists'],
    step.ctx,
    step.signal,
  )
  if (!exists) return { type, open: true }
  const status = await didStatus(step, name)
  if (status.type !== type) {
    throw new CatalogError(
      'catalog-permanent',
      `${step.scope}:${name} exists in Rucio as a ${status.type}, not a ${type}: choose another name (catalog.blockName) or remove it`,
    )
  }
  return status
}

/** GET /dids/{scope}/{name}: one JSON object (asking for x-json-stream here is a 406). */
export async function didStatus(step: DidStep, name: string): Promise<DidStatus> {
  const did = (await step.client.getJson(didPath(step.scope, name), step.ctx, step.signal)) as {
    type?: string
    open?: boolean
  }
  return { type: String(did?.type ?? ''), open: did?.open !== false }
}

/** Attaches `children` (names in the same scope) to `parent`, batched, ignoring those already attached. */
export async function attach(step: DidStep, parent: string, children: readonly string[]): Promise<void> {
  for (let i = 0; i < children.length; i += step.batchSize) {
    const dids = children.slice(i, i + step.batchSize).map((name) => ({ scope: step.scope, name }))
    const json = { attachments: [{ scope: step.scope, name: parent, dids }], ignore_duplicate: true }
    await step.client.expect(
      { method: 'POST', path: '/dids/attachments', json },
      [201],
      step.ctx,
      step.signal,
    )
  }
}

/** The names of the files in a dataset. */
export async function fileNames(step: DidStep, dataset: string): Promise<Set<string>> {
  const files = (await step.client.list(
    { method: 'GET', path: didPath(step.scope, dataset, '/files') },
    step.ctx,
    step.signal,
  )) as { name: string }[]
  return new Set(files.map((f) => f.name))
}

/** Closes an open dataset (PUT .../status {"open": false}); closing a closed one is a 409 in Rucio. */
export async function closeDataset(step: DidStep, name: string): Promise<void> {
  const call = { method: 'PUT', path: didPath(step.scope, name, '/status'), json: { open: false } } as const
  const refusal = await step.client.tolerate(call, [200], ['UnsupportedOperation'], step.ctx, step.signal)
  // someone closed it between our read and our call: fine if it is closed now
  if (refusal && (await didStatus(step, name)).open) {
    throw new CatalogError(
      'catalog-permanent',
      `Rucio refused to close ${step.scope}:${name}: ${refusal.status} ${refusal.exceptionClass} "${refusal.message}"`,
      refusal.status,
    )
  }
}
