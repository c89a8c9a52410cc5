/**
 * Files in every publication state without a catalog: requests injected, delivered through the store's own
 * claim, submit and outcome operations, then moved by the publisher's store operations (fillBlocks,
 * startPublishing, recordPublished, recordPublishFailure). Nothing is written column by column.
 */

import type { InjectItem } from '../../src/store/ops/inject.js'
import type { BlockKey } from '../../src/store/ops/publication.js'
import type { Store } from '../../src/store/store.js'
import { items } from './requests.js'
import { testOutcomePolicy } from './stores.js'

export const DATASET = '/Prim/Proc-v1/USER'

/** `n` outputs of `user` in `task` that ask for publication into DATASET (A -> B, as requests.ts makes them). */
export function publishable(n: number, user: string, task: string, from = 0): InjectItem[] {
  return items(n, (i) => ({
    user,
    task,
    jobId: `${task}-${from + i}`,
    sourceLfn: `/store/temp/user/${user}.abc/${task}-${from + i}.root`,
    destinationLfn: `/store/user/${user}/${task}/${from + i}.root`,
    publish: true,
    dataset: DATASET,
  }))
}

/** Claims, submits and ends the given files: `done` ones DONE, the rest FAILED (source missing). */
export async function deliver(
  store: Store,
  batch: readonly InjectItem[],
  now: number,
  fail: ReadonlySet<string> = new Set(),
): Promise<void> {
  const users = [...new Set(batch.map((b) => b.request.user))]
  for (const user of users) {
    const jobs = await store.claimForSubmission({
      source: 'A',
      destination: 'B',
      user,
      group: null,
      role: null,
      limit: 10_000,
      maxActive: 10_000,
      maxFilesPerJob: 10_000,
      engine: 'local',
      agentId: 'agent-1',
      now,
      jobIdFor: (sid) => `job-${user}-${sid.slice(0, 12)}`,
    })
    await store.markSubmitted(
      jobs.map((j) => j.jobId),
      now,
      'test',
    )
    for (const job of jobs) {
      await store.recordOutcomes(
        job.transfers.map((t) => ({
          jobId: job.jobId,
          transferId: t.id,
          attempt: 1,
          result: fail.has(t.id) ? 'failed' : 'done',
          reason: fail.has(t.id) ? 'SOURCE [2] No such file or directory' : 'copied',
        })),
        testOutcomePolicy(now),
      )
    }
  }
}

/** The block key of `user`'s files of DATASET at B. */
export function keyOf(user: string): BlockKey {
  return { user, dataset: DATASET, destination: 'B', scope: `user.${user}`, rse: 'B', ruleAccount: user }
}

/** Puts these DONE files into one new block named `name`. */
export async function intoBlock(
  store: Store,
  user: string,
  ids: readonly string[],
  name: string,
  now: number,
) {
  return store.fillBlocks([{ key: keyOf(user), ids, newNames: [name] }], {
    maxFiles: 1000,
    now,
    actor: 'publisher',
  })
}

/** Closes the block (its files PUBLISHING). */
export async function close(store: Store, name: string, now: number) {
  return store.startPublishing(name, { reason: 'full', description: 'full (test)' }, now, 'publisher')
}
