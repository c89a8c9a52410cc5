import { randomBytes } from 'node:crypto'
import { AsoError } from '../../domain/errors.js'
import { isPostgresUrl } from '../../store/open.js'
import { normaliseDb } from '../app.js'

/** The database a demo run uses: undefined (its own SQLite file in the demo directory), or a fresh schema. */
export interface DemoDatabase {
  /** for aso.yaml's `database:`; undefined: the demo's own SQLite file */
  url: string | undefined
  /** what to tell the user about it */
  description: string
  /** removes what the run created (the PostgreSQL schema) */
  drop(): Promise<void>
}

/**
 * `--db` for the demo: an SQLite path is used as is; on PostgreSQL each run gets a schema of its own in the
 * named database (search_path set in the URL), so runs never mix with each other or with real data.
 */
export async function demoDatabase(db: string | undefined): Promise<DemoDatabase> {
  if (!db) return { url: undefined, description: 'SQLite in the demo directory', drop: async () => {} }
  const url = normaliseDb(db)
  if (!isPostgresUrl(url)) return { url, description: url, drop: async () => {} }
  const schema = `aso_demo_${new Date().toISOString().slice(0, 10).replaceAll('-', '')}_${randomBytes(3).toString('hex')}`
  const { default: pg } = await import('pg')
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: url })
    try {
      await client.connect()
      await client.query(statement)
    } catch (e) {
      throw new AsoError(
        'unavailable',
        `demo database ${url.replace(/:[^:@/]*@/, ':***@')}: ${(e as Error).message}`,
      )
    } finally {
      await client.end()
    }
  }
  await admin(`create schema ${schema}`)
  const sep = url.includes('?') ? '&' : '?'
  return {
    url: `${url}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    description: `PostgreSQL, schema ${schema}`,
    drop: () => admin(`drop schema ${schema} cascade`),
  }
}
