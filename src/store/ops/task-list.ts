import { sql } from 'kysely'
import { AsoError } from '../../domain/errors.js'
import type { TransferState } from '../../domain/states.js'
import type { PublicationState } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import type { Db } from '../dialect.js'

export interface TaskListFilter {
  user?: string
  task?: string
  /** part of the task name, any case */
  q?: string
  /** active: files not yet terminal; complete: all terminal; failed: some FAILED or KILLED */
  status?: 'active' | 'complete' | 'failed'
  cursor?: string
  limit: number
}

export interface TaskProgress {
  task: string
  user: string
  states: Record<TransferState, number>
  bytes: { total: number; done: number }
  /** files per publication state, of those that asked for publication (empty when none did) */
  publication: Partial<Record<PublicationState, number>>
}

const LIVE_SUM = sql<number>`n_new + n_submitting + n_submitted + n_retry + n_killing`
const ALL_SUM = sql<number>`n_new + n_submitting + n_submitted + n_retry + n_killing + n_done + n_failed + n_killed`

/** `%`, `_` and `\` taken literally in a LIKE pattern. */
function likePattern(text: string): string {
  return `%${text.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

function decodeTaskCursor(cursor: string): number {
  const seq = Number(Buffer.from(cursor, 'base64url').toString())
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new AsoError(
      'invalid-request',
      'cursor is not valid: pass back the `next` value of the previous page',
      {
        field: 'cursor',
      },
    )
  }
  return seq
}

/** Tasks with their files per state, newest first, from the task rollup; each page is one bounded index scan. */
export async function taskList(
  db: Db,
  f: TaskListFilter,
): Promise<{ items: TaskProgress[]; next: string | null }> {
  let q = db.selectFrom('task_counts').selectAll().where(ALL_SUM, '>', 0)
  if (f.user !== undefined) q = q.where('user', '=', f.user)
  if (f.task !== undefined) q = q.where('task', '=', f.task)
  if (f.q) q = q.where(sql<boolean>`lower(task) like ${likePattern(f.q)} escape '\\'`)
  if (f.status === 'active') q = q.where(LIVE_SUM, '>', 0)
  if (f.status === 'complete') q = q.where(LIVE_SUM, '=', 0)
  if (f.status === 'failed') q = q.where((eb) => eb.or([eb('n_failed', '>', 0), eb('n_killed', '>', 0)]))
  if (f.cursor) q = q.where('seq', '<', decodeTaskCursor(f.cursor))
  const rows = await q
    .orderBy('seq', 'desc')
    .limit(f.limit + 1)
    .execute()
  const page = rows.slice(0, f.limit)
  const publication = await publicationOfTasks(db, page)
  const last = page.at(-1)
  const next = rows.length > f.limit && last ? Buffer.from(String(last.seq)).toString('base64url') : null
  return {
    items: page.map((r) => ({
      task: r.task,
      user: r.user,
      states: {
        NEW: Number(r.n_new),
        SUBMITTING: Number(r.n_submitting),
        SUBMITTED: Number(r.n_submitted),
        RETRY: Number(r.n_retry),
        KILLING: Number(r.n_killing),
        DONE: Number(r.n_done),
        FAILED: Number(r.n_failed),
        KILLED: Number(r.n_killed),
      },
      bytes: { total: Number(r.bytes), done: Number(r.done_bytes) },
      publication: publication.get(`${r.user}\0${r.task}`) ?? {},
    })),
    next,
  }
}

/** Publication counts of a page of tasks: one index scan over their publishable files (a partial index). */
async function publicationOfTasks(
  db: Db,
  page: readonly { user: string; task: string }[],
): Promise<Map<string, Partial<Record<PublicationState, number>>>> {
  const out = new Map<string, Partial<Record<PublicationState, number>>>()
  if (page.length === 0) return out
  const rows = await db
    .selectFrom('transfers')
    .select(['user', 'task', 'publication_state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('publication_state', '<>', 'NOT_REQUIRED')
    .where('user', 'in', [...new Set(page.map((t) => t.user))])
    .where('task', 'in', [...new Set(page.map((t) => t.task))])
    .groupBy(['user', 'task', 'publication_state'])
    .execute()
  for (const r of rows) {
    const key = `${r.user}\0${r.task}`
    const counts = out.get(key) ?? {}
    counts[r.publication_state as PublicationState] = Number(r.n)
    out.set(key, counts)
  }
  return out
}

/** The store's door for the task list. */
export interface TaskListReads {
  taskList(filter: TaskListFilter): Promise<{ items: TaskProgress[]; next: string | null }>
}

export function taskListReads(s: StoreContext): TaskListReads {
  return {
    taskList: (filter) => taskList(s.db, filter),
  }
}
