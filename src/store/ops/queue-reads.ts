import { IN_FLIGHT_STATES } from '../../domain/states.js'
import type { TransferRecord } from '../../domain/transfer.js'
import { linkKey } from '../../domain/transfer.js'
import type { StoreContext } from '../context.js'
import type { Db } from '../dialect.js'

/** Files of one user (and group, role) waiting on one link. */
export interface WaitingQueue {
  source: string
  destination: string
  user: string
  group: string | null
  role: string | null
  waiting: number
}

/** Files of the same queue that go before this one: higher priority, or same priority and older. */
export async function queuePosition(db: Db, r: TransferRecord): Promise<number> {
  const row = await db
    .selectFrom('transfers')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('state', '=', 'NEW')
    .where('source', '=', r.source)
    .where('destination', '=', r.destination)
    .where('user', '=', r.user)
    .where('grp', '=', r.group ?? '')
    .where('role', '=', r.role ?? '')
    .where((eb) =>
      eb.or([
        eb('priority', '>', r.priority),
        eb.and([eb('priority', '=', r.priority), eb('created_at', '<', r.createdAt)]),
        eb.and([eb('priority', '=', r.priority), eb('created_at', '=', r.createdAt), eb('id', '<', r.id)]),
      ]),
    )
    .executeTakeFirst()
  return Number(row?.n ?? 0)
}

export async function waitingQueues(db: Db): Promise<WaitingQueue[]> {
  const rows = await db
    .selectFrom('transfer_counts')
    .select(['source', 'destination', 'user', 'grp', 'role', 'n'])
    .where('state', '=', 'NEW')
    .where('n', '>', 0)
    .execute()
  return rows.map((r) => ({
    source: r.source,
    destination: r.destination,
    user: r.user,
    group: r.grp === '' ? null : r.grp,
    role: r.role === '' ? null : r.role,
    waiting: Number(r.n),
  }))
}

/**
 * The injection time of the oldest waiting file of each queue (FIFO scheduling, agent.scheduling: fifo), keyed
 * `source\0destination\0user\0group\0role`. Read only when FIFO is configured: it scans the waiting files.
 */
export async function oldestWaiting(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('transfers')
    .select((eb) => [
      'source',
      'destination',
      'user',
      'grp',
      'role',
      eb.fn.min<number>('created_at').as('oldest'),
    ])
    .where('state', '=', 'NEW')
    .groupBy(['source', 'destination', 'user', 'grp', 'role'])
    .execute()
  return new Map(
    rows.map((r) => [oldestKey(r.source, r.destination, r.user, r.grp, r.role), Number(r.oldest)]),
  )
}

/** The key of `oldestWaiting`'s map for a queue (group and role '' when absent). */
export function oldestKey(
  source: string,
  destination: string,
  user: string,
  group: string | null,
  role: string | null,
) {
  return `${source}\0${destination}\0${user}\0${group ?? ''}\0${role ?? ''}`
}

export async function inFlightByLink(db: Db): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('transfer_counts')
    .select((eb) => ['source', 'destination', eb.fn.sum<number>('n').as('n')])
    .where('state', 'in', IN_FLIGHT_STATES as string[])
    .groupBy(['source', 'destination'])
    .execute()
  return new Map(rows.map((r) => [linkKey(r.source, r.destination), Number(r.n)]))
}

/** The store's door for what waits on which link: the submitter's view and a file's place in its queue. */
export interface QueueReads {
  waitingQueues(): Promise<WaitingQueue[]>
  /** per queue (oldestKey), the injection time of its oldest waiting file: for FIFO scheduling */
  oldestWaiting(): Promise<Map<string, number>>
  inFlightByLink(): Promise<Map<string, number>>
  /** files of the same queue ahead of this one (higher priority, or older) */
  queuePosition(record: TransferRecord): Promise<number>
}

export function queueReads(s: StoreContext): QueueReads {
  return {
    waitingQueues: () => waitingQueues(s.db),
    oldestWaiting: () => oldestWaiting(s.db),
    inFlightByLink: () => inFlightByLink(s.db),
    queuePosition: (record) => queuePosition(s.db, record),
  }
}
