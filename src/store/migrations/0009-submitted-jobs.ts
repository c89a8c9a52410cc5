import { type Kysely, type Migration, sql } from 'kysely'

/**
 * An engine job is SUBMITTED only once none of its files is still SUBMITTING (ops/submission.ts), so marking an
 * accepted job again needs no look at its files. Before, outcomes arriving ahead of the mark could make a job
 * SUBMITTED with some files still SUBMITTING for a moment: a job left so by a crash goes back to SUBMITTING.
 */
export function submittedJobs(): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await sql`update engine_jobs set state = 'SUBMITTING' where state = 'SUBMITTED' and exists (
        select 1 from transfers where transfers.engine_job_id = engine_jobs.job_id and transfers.state = 'SUBMITTING')`.execute(
        db,
      )
    },
  }
}
