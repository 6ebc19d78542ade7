import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb, type Db } from '../../src/db/index.ts'
import { createTestDb, type TestDb } from '../helpers/db.ts'
import { testDbKind } from '../helpers/env.ts'

describe('openDb', () => {
  let tdb: TestDb
  beforeAll(async () => {
    tdb = await createTestDb()
  })
  afterAll(async () => {
    await tdb.drop()
  })

  it("every connection carries the trigram cut-off of PostHog's similar search (0.3)", async () => {
    // Several at once, so that on PostgreSQL more than one pooled connection answers.
    const rows = await Promise.all(
      Array.from({ length: 4 }, () => tdb.db.query<{ t: string }>(`SELECT current_setting('pg_trgm.word_similarity_threshold') AS t, pg_sleep(0.05)`)),
    )
    expect(rows.map((r) => r[0].t)).toEqual(['0.3', '0.3', '0.3', '0.3'])
  })

  if (testDbKind() === 'postgres') {
    // Backends of one pool, told apart by their application_name.
    async function backends(name: string): Promise<number> {
      const rows = await tdb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`, [name])
      return rows[0].n
    }
    async function poolWithIdle(seconds: number): Promise<{ db: Db; name: string }> {
      const name = `orgd-open-test-${randomBytes(4).toString('hex')}`
      const url = new URL(tdb.url!)
      url.searchParams.set('application_name', name)
      const db = await openDb({ databaseUrl: url.toString(), dataDir: '', poolSize: 3, poolIdleSeconds: seconds })
      // Three connections at once, then idle.
      await Promise.all([1, 2, 3].map(() => db.query(`SELECT pg_sleep(0.05)`)))
      return { db, name }
    }

    it('idle connections stay open for poolIdleSeconds, and close after it', async () => {
      const short = await poolWithIdle(1)
      const long = await poolWithIdle(60)
      try {
        expect(await backends(short.name)).toBe(3)
        expect(await backends(long.name)).toBe(3)
        await new Promise((r) => setTimeout(r, 2000))
        expect(await backends(short.name)).toBe(0)
        expect(await backends(long.name)).toBe(3)
      } finally {
        await short.db.close()
        await long.db.close()
      }
    })
  }
})
