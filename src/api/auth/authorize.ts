/**
 * Authorization (ARCHITECTURE.md invariant 8): users see, kill and retry only their own transfers;
 * operators and admins act on everyone's. Every refusal says who the caller is and what they may do instead.
 */
import { AsoError } from '../../domain/errors.js'
import { actsOnAll, type Identity } from '../../domain/identity.js'
import type { TransferRecord } from '../../domain/transfer.js'
import type { Store } from '../../store/store.js'

/**
 * The owner a query must be restricted to: the caller for users (who may name only themselves), the named
 * user or nobody (everyone) for operators.
 */
export function ownerScope(
  caller: Identity,
  requested: string | undefined,
  what: string,
): string | undefined {
  if (actsOnAll(caller)) return requested
  if (requested !== undefined && requested !== caller.name) {
    throw new AsoError(
      'forbidden',
      `you are "${caller.name}" (role user): you may ${what} only your own transfers, not those of "${requested}"; leave the user filter out or ask an operator`,
    )
  }
  return caller.name
}

/** Refuses a record that is not the caller's (operators may act on all). */
export function assertOwner(caller: Identity, record: TransferRecord, what: string): void {
  if (actsOnAll(caller) || record.user === caller.name) return
  throw new AsoError(
    'forbidden',
    `transfer ${record.id} belongs to another user: you are "${caller.name}" and may ${what} only your own transfers (operators may ${what} everyone's)`,
  )
}

/**
 * The owner scope for acting on a task: everyone for operators; the caller for users. A task with no files of
 * the caller answers 404 exactly like one that does not exist: a user cannot learn that another's task exists
 * (tasks belong to the user who first used them; tasks made before owners may also hold the caller's files).
 */
export async function taskScope(
  store: Store,
  caller: Identity,
  task: string,
  what: string,
): Promise<string | undefined> {
  const scope = ownerScope(caller, undefined, what)
  const own = await store.taskCounts(task, scope)
  if (own.some((c) => c.n > 0)) return scope
  throw new AsoError('not-found', `no transfers in task "${task}": check the task name`)
}

/** Refuses operator-only actions to users. */
export function requireOperator(caller: Identity, what: string): void {
  if (actsOnAll(caller)) return
  throw new AsoError(
    'forbidden',
    `you are "${caller.name}" (role user): ${what} needs the operator or admin role (users.<name>.role in aso.yaml)`,
  )
}
