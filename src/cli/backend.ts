/**
 * What the CLI commands act on: the local store (the default) or an ASO server through the API (`--server`).
 * Each command is written once against this interface.
 */
import type {
  ExplanationResponse,
  InjectItemResult,
  KillResponse,
  PublicationRetryResponse,
  RetryResponse,
  SelectorBody,
  StatusResponse,
  TaskSummaryResponse,
} from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import type { GlobalOptions } from './app.js'

export interface Backend {
  /** what the commands talk to, for messages */
  readonly where: string
  /** stores requests (at most 10,000 a call): one result per request, in order */
  inject(requests: readonly unknown[]): Promise<InjectItemResult[]>
  status(filter: { user?: string; task?: string }): Promise<StatusResponse>
  explain(id: string): Promise<ExplanationResponse>
  kill(sel: SelectorBody): Promise<KillResponse>
  retry(sel: SelectorBody): Promise<RetryResponse>
  /** FAILED publications get a new round */
  publishRetry(sel: SelectorBody): Promise<PublicationRetryResponse>
  /** where the task's files are now */
  task(task: string): Promise<TaskSummaryResponse>
  /** waits until every file of the task is terminal or `timeoutMs` passes (`complete` says which) */
  waitTask(task: string, timeoutMs: number): Promise<TaskSummaryResponse>
  close(): Promise<void>
}

/** The global options that choose and reach a server. */
export interface ServerOptions {
  server?: string
  proxy?: string
  cert?: string
  key?: string
  tokenFile?: string
  caDir?: string
}

export type BackendOptions = GlobalOptions & ServerOptions

/** The local store, or the server named by --server (or $ASO_SERVER). */
export async function openBackend(opts: BackendOptions): Promise<Backend> {
  const server = opts.server ?? process.env.ASO_SERVER
  if (server) {
    const { openRemoteBackend } = await import('./remote-backend.js')
    return openRemoteBackend(server, opts)
  }
  const { openLocalBackend } = await import('./local-backend.js')
  return openLocalBackend(opts)
}

/** The transfers a kill or retry names: a task, ids, or both. */
export function selectorOf(ids: readonly string[], task: string | undefined): SelectorBody {
  if (!task && ids.length === 0) {
    throw new AsoError('usage', 'name the transfers: --task TASK or one or more ids')
  }
  return { ...(task ? { task } : {}), ...(ids.length ? { ids: [...ids] } : {}) }
}
