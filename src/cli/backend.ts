/**
 * What the CLI commands act on: the local store (the default) or an ASO server through the API (`--server`).
 * Each command is written once against this interface.
 */
import type { ListParams, TaskListParams, WaitProgress } from '../client/client.js'
import type { LinkSettingResponse, TaskListResponse, WeightResponse } from '../contract/dashboard.js'
import type {
  ExplanationResponse,
  InjectItemResult,
  KillResponse,
  ListResponse,
  PublicationRetryResponse,
  RetryResponse,
  SelectorBody,
  StatusResponse,
  TaskSummaryResponse,
  WhoamiResponse,
} from '../contract/schemas.js'
import { AsoError } from '../domain/errors.js'
import type { GlobalOptions } from './app.js'

/** Filters of `aso list`: the API's (GET /transfers), with `updatedSince` in epoch milliseconds and a limit. */
export type ListFilter = Omit<ListParams, 'updatedSince' | 'limit'> & { updatedSince?: number; limit: number }

/** Filters of `aso tasks`: the API's (GET /tasks). */
export type TaskFilter = Omit<TaskListParams, 'limit'> & { limit: number }

/** Who the commands act as; `local`: the CLI holds the database itself. */
export type Whoami = Omit<WhoamiResponse, 'method'> & { method: WhoamiResponse['method'] | 'local' }

/** An operator's change of a link: pause, resume, or maxActive (null: back to aso.yaml). */
export interface LinkChange {
  paused?: boolean
  maxActive?: number | null
}

export interface Backend {
  /** what the commands talk to, for messages */
  readonly where: string
  /** stores requests (at most 10,000 a call): one result per request, in order */
  inject(requests: readonly unknown[]): Promise<InjectItemResult[]>
  status(filter: { user?: string; task?: string }): Promise<StatusResponse>
  /** one page of transfers; `next` is the cursor of the following page */
  list(filter: ListFilter): Promise<ListResponse>
  /** tasks with their files per state, newest first */
  tasks(filter: TaskFilter): Promise<TaskListResponse>
  whoami(): Promise<Whoami>
  /** operators: recorded in the audit list */
  setLink(source: string, destination: string, change: LinkChange): Promise<LinkSettingResponse>
  /** operators: recorded in the audit list */
  setUserWeight(user: string, weight: number): Promise<WeightResponse>
  explain(id: string): Promise<ExplanationResponse>
  kill(sel: SelectorBody): Promise<KillResponse>
  retry(sel: SelectorBody): Promise<RetryResponse>
  /** FAILED publications get a new round */
  publishRetry(sel: SelectorBody): Promise<PublicationRetryResponse>
  /** where the task's files are now */
  task(task: string): Promise<TaskSummaryResponse>
  /**
   * waits until every file of the task is terminal or `timeoutMs` passes (`complete` says which), telling
   * `progress` the summary at least every `progress.sliceMs`
   */
  waitTask(task: string, timeoutMs: number, progress?: WaitProgress): Promise<TaskSummaryResponse>
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
