import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { openDb, openMemoryPglite, type Db } from '../../src/db/index.ts'
import { ADMIN_DATABASE_URL, databaseUrlFor, TEMPLATE_DIR, testDbKind } from './env.ts'

export interface TestDb {
  db: Db
  /** PostgreSQL only: the URL of this file's own database (for multi-process tests). */
  url: string | null
  drop(): Promise<void>
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await admin.connect()
  try {
    await admin.query(sql)
  } finally {
    await admin.end()
  }
}

/** A fresh, migrated database of the kind this run tests (TEST_DB=pglite|postgres). */
export async function createTestDb(): Promise<TestDb> {
  if (testDbKind() === 'pglite') {
    const tarball = readFileSync(join(TEMPLATE_DIR, 'pglite-template.tar.gz'))
    const db = await openMemoryPglite(new Blob([tarball]))
    return { db, url: null, drop: () => db.close() }
  }
  const template = process.env.ORGD_TEST_TEMPLATE
  if (!template) throw new Error('ORGD_TEST_TEMPLATE is not set: run the tests through vitest (global setup)')
  const name = `orgd_test_${randomBytes(6).toString('hex')}`
  // Copying a template fails while another copy of it is in progress: retry briefly.
  for (let attempt = 0; ; attempt++) {
    try {
      await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`)
      break
    } catch (err) {
      if (attempt > 40 || !/being accessed by other users/.test(String(err))) throw err
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200))
    }
  }
  const url = databaseUrlFor(name)
  const db = await openDb({ databaseUrl: url, dataDir: '', poolSize: 10 })
  return {
    db,
    url,
    drop: async () => {
      await db.close()
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}
