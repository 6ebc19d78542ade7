import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { openDb, openMemoryPglite } from '../../src/db/index.ts'
import { migrate } from '../../src/db/migrate.ts'
import { ADMIN_DATABASE_URL, databaseUrlFor, TEMPLATE_DIR, testDbKind } from './env.ts'

/**
 * Migrates once per run: a PGlite data directory dumped to a tarball that every test file loads,
 * or a PostgreSQL template database that every test file copies.
 */
export default async function setup(): Promise<() => Promise<void>> {
  if (testDbKind() === 'pglite') {
    mkdirSync(TEMPLATE_DIR, { recursive: true })
    const db = await openMemoryPglite()
    await migrate(db)
    const dump = await db.pglite.dumpDataDir('gzip')
    writeFileSync(join(TEMPLATE_DIR, 'pglite-template.tar.gz'), Buffer.from(await dump.arrayBuffer()))
    await db.close()
    return async () => {}
  }
  const template = `orgd_template_${process.pid}`
  process.env.ORGD_TEST_TEMPLATE = template
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${template}`)
  await admin.query(`CREATE DATABASE ${template}`)
  const db = await openDb({ databaseUrl: databaseUrlFor(template), dataDir: '' })
  await migrate(db)
  await db.close()
  return async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)
    await admin.end()
  }
}
