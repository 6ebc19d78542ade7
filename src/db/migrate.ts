import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import type { Db } from './index.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))

export interface Migration {
  name: string
  sql: string
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((name) => ({ name, sql: readFileSync(join(dir, name), 'utf8') }))
}

/**
 * Applies the pending migrations in order, each in its own transaction. An advisory lock makes
 * concurrent `orgd serve` starts on one PostgreSQL wait for each other instead of racing.
 * Returns the names applied.
 */
export async function migrate(db: Db, migrations = loadMigrations()): Promise<string[]> {
  await db.tx(async (q) => {
    await q.query(`SELECT pg_advisory_xact_lock(727274)`)
    await q.exec(`CREATE TABLE IF NOT EXISTS orgd_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`)
  })
  const applied: string[] = []
  for (const m of migrations) {
    const done = await db.tx(async (q) => {
      await q.query(`SELECT pg_advisory_xact_lock(727274)`)
      const seen = await q.query(`SELECT 1 FROM orgd_migrations WHERE name = $1`, [m.name])
      if (seen.length > 0) return false
      await q.exec(m.sql)
      await q.query(`INSERT INTO orgd_migrations (name) VALUES ($1)`, [m.name])
      return true
    })
    if (done) applied.push(m.name)
  }
  return applied
}
