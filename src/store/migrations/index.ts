import type { Migration, MigrationProvider } from 'kysely'
import type { DialectName } from '../dialect.js'
import { initial } from './0001-initial.js'
import { webhooks } from './0002-webhooks.js'
import { eventCommitOrder } from './0003-event-commit-order.js'
import { dashboardRollups } from './0004-dashboard-rollups.js'
import { taskOwners } from './0005-task-owners.js'
import { publication } from './0006-publication.js'
import { couchdb } from './0007-couchdb.js'
import { adaptiveLinks } from './0008-adaptive-links.js'
import { submittedJobs } from './0009-submitted-jobs.js'

/**
 * Every migration, in order, written once for both dialects (`dialect` picks the few words that differ).
 * A change to the schema is a new file here and one line below; released migrations never change.
 */
function migrations(dialect: DialectName): Record<string, Migration> {
  return {
    '0001_initial': initial(dialect),
    '0002_webhooks': webhooks(dialect),
    '0003_event_commit_order': eventCommitOrder(dialect),
    '0004_dashboard_rollups': dashboardRollups(dialect),
    '0005_task_owners': taskOwners(dialect),
    '0006_publication': publication(dialect),
    '0007_couchdb': couchdb(dialect),
    '0008_adaptive_links': adaptiveLinks(dialect),
    '0009_submitted_jobs': submittedJobs(),
  }
}

export function migrationProvider(dialect: DialectName): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) }
}
