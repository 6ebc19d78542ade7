import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { pg_trgm } from '@electric-sql/pglite/contrib/pg_trgm'
import { openDb, type Db } from '../../src/db/index.ts'
import { createTestDb } from './db.ts'
import { TEMPLATE_DIR, testDbKind } from './env.ts'

/**
 * A database that outlives the processes using it, for restart tests: each `open()` is a new
 * connection to the same data, as a restarted orgd process would make. PostgreSQL: this test's
 * own database. PGlite: an on-disk data directory (one open at a time: orgd locks it).
 * Close every opened Db before `drop()`.
 */
export interface RestartableDb {
  kind: 'pglite' | 'postgres'
  /** PGlite only: the ORGD data directory holding the database. */
  dataDir: string | null
  open(): Promise<Db>
  drop(): Promise<void>
}

export async function createRestartableDb(): Promise<RestartableDb> {
  if (testDbKind() === 'postgres') {
    const tdb = await createTestDb()
    const url = tdb.url!
    return {
      kind: 'postgres',
      dataDir: null,
      open: () => openDb({ databaseUrl: url, dataDir: '', poolSize: 5 }),
      drop: () => tdb.drop(),
    }
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'orgd-restart-'))
  // The run's migrated template, unpacked into the directory orgd opens (<dataDir>/pgdata):
  // much faster than migrating an on-disk database.
  const template = new Blob([readFileSync(join(TEMPLATE_DIR, 'pglite-template.tar.gz'))])
  const seed = await PGlite.create({ dataDir: join(dataDir, 'pgdata'), extensions: { pg_trgm }, loadDataDir: template })
  await seed.close()
  return {
    kind: 'pglite',
    dataDir,
    open: () => openDb({ databaseUrl: null, dataDir }),
    drop: async () => rmSync(dataDir, { recursive: true, force: true }),
  }
}
