import type { StoreContext } from '../context.js'
import { chunk, type Db, type Trx } from '../dialect.js'

/**
 * Claims each task of `claims` (task → the user who would own it) that has no owner yet, and returns the owner
 * of every one of them. An insert that does nothing on conflict, then a read: of two transactions claiming one
 * new task at once, the second waits for the first's row (PostgreSQL's unique index; SQLite's single writer)
 * and reads it, so exactly one user owns each task.
 */
export async function claimTaskOwners(
  trx: Trx,
  claims: ReadonlyMap<string, string>,
  now: number,
): Promise<Map<string, string>> {
  const owners = new Map<string, string>()
  // in one order: two transactions claiming the same tasks wait on each other instead of deadlocking
  const sorted = [...claims].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  for (const part of chunk(sorted, 500)) {
    await trx
      .insertInto('task_owners')
      .values(part.map(([task, user]) => ({ task, user, claimed_at: now })))
      .onConflict((oc) => oc.column('task').doNothing())
      .execute()
    const rows = await trx
      .selectFrom('task_owners')
      .select(['task', 'user'])
      .where(
        'task',
        'in',
        part.map(([task]) => task),
      )
      .execute()
    for (const r of rows) owners.set(r.task, r.user)
  }
  return owners
}

/** The owners of those of `tasks` that have one (a read outside the inject transaction: a hint, not a claim). */
export async function taskOwners(db: Db, tasks: readonly string[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>()
  for (const part of chunk([...new Set(tasks)], 500)) {
    const rows = await db
      .selectFrom('task_owners')
      .select(['task', 'user'])
      .where('task', 'in', part)
      .execute()
    for (const r of rows) owners.set(r.task, r.user)
  }
  return owners
}

/** The store's door for who owns a task. */
export interface TaskOwnerReads {
  /** the owner of each of these tasks that has one (the user who first injected into it) */
  taskOwners(tasks: readonly string[]): Promise<Map<string, string>>
}

export function taskOwnerReads(s: StoreContext): TaskOwnerReads {
  return {
    taskOwners: (tasks) => taskOwners(s.db, tasks),
  }
}
