import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openDb, sqlLiteral, type Db } from '../../src/db/index.ts'
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

  it('sqlLiteral writes numbers, booleans, null and quoted strings, and refuses anything else', () => {
    expect([1, -2.5, true, false, null, undefined, "it's"].map(sqlLiteral)).toEqual(['1', '-2.5', 'TRUE', 'FALSE', 'NULL', 'NULL', "'it''s'"])
    expect(() => sqlLiteral(Number.NaN)).toThrow(/number/)
    expect(sqlLiteral(new Date('2026-11-29T12:00:00.123Z'))).toBe("'2026-11-29T12:00:00.123Z'")
    expect(() => sqlLiteral(new Date(Number.NaN))).toThrow(/invalid date/)
    expect(() => sqlLiteral({})).toThrow(/object/)
    expect(() => sqlLiteral('a\0b')).toThrow(/NUL/)
  })

  describe('queries with a prepared-statement name', () => {
    const SQL = `SELECT $1::int + 1 AS n, $2::text AS t`
    let counter = 0
    // A fresh name per test, so each one starts unprepared.
    const fresh = () => `orgd_open_test_${process.pid}_${++counter}`
    /** How often PGlite's one session planned the kept statement each way. */
    async function planCounts(name: string): Promise<{ generic_plans: number; custom_plans: number }> {
      const rows = await tdb.db.query<{ generic_plans: number; custom_plans: number }>(
        `SELECT generic_plans::int, custom_plans::int FROM pg_prepared_statements WHERE name = $1`,
        [name],
      )
      return rows[0]
    }
    async function preparedNames(): Promise<string[]> {
      const rows = await tdb.db.query<{ name: string }>(`SELECT name FROM pg_prepared_statements ORDER BY name`)
      return rows.map((r) => r.name)
    }

    it('answer as the plain statement, first and later times', async () => {
      const name = fresh()
      for (const i of [1, 2, 3]) {
        expect(await tdb.db.query(SQL, [i, `x${i}`], { prepare: name })).toEqual([{ n: i + 1, t: `x${i}` }])
      }
      // PGlite is one session; on PostgreSQL each pooled connection has its own (tested below).
      if (testDbKind() === 'pglite') expect(await preparedNames()).toContain(name)
    })

    it('several first uses at once all answer', async () => {
      const name = fresh()
      const rows = await Promise.all([1, 2, 3, 4, 5].map((i) => tdb.db.query(SQL, [i, 'a'], { prepare: name })))
      expect(rows).toEqual([1, 2, 3, 4, 5].map((i) => [{ n: i + 1, t: 'a' }]))
    })

    it('inside a transaction, before and after the statement was prepared', async () => {
      const name = fresh()
      expect(await tdb.db.tx((q) => q.query(SQL, [1, 'tx'], { prepare: name }))).toEqual([{ n: 2, t: 'tx' }])
      await tdb.db.query(SQL, [2, 'out'], { prepare: name })
      expect(await tdb.db.tx((q) => q.query(SQL, [3, 'tx'], { prepare: name }))).toEqual([{ n: 4, t: 'tx' }])
    })

    it('a first use outside while a transaction holds the database does not wait for itself', async () => {
      const name = fresh()
      let started!: () => void
      const txStarted = new Promise<void>((r) => (started = r))
      let go!: () => void
      const outsideSent = new Promise<void>((r) => (go = r))
      const inside = tdb.db.tx(async (q) => {
        started()
        // On PGlite the outside query's PREPARE now waits for this transaction, which then runs
        // the same statement.
        await outsideSent
        return q.query(SQL, [6, 'i'], { prepare: name })
      })
      await txStarted
      const outside = tdb.db.query(SQL, [5, 'o'], { prepare: name })
      await new Promise((r) => setTimeout(r, 50))
      go()
      expect(await inside).toEqual([{ n: 7, t: 'i' }])
      expect(await outside).toEqual([{ n: 6, t: 'o' }])
    })

    it('parameters with quotes, backslashes and SQL in them arrive as they were sent', async () => {
      const name = fresh()
      for (const t of [`O'Brien`, `a\\'b`, `'); DROP TABLE users; --`, `ünï'cödé`, '']) {
        expect(await tdb.db.query(SQL, [1, t], { prepare: name })).toEqual([{ n: 2, t }])
      }
      expect(await tdb.db.query(`SELECT count(*)::int AS n FROM users`)).toHaveLength(1)
    })

    it('a statement dropped from the session (DEALLOCATE) is run plainly, then prepared again', async () => {
      const name = fresh()
      await tdb.db.query(SQL, [1, 'a'], { prepare: name })
      if (testDbKind() === 'pglite') await tdb.db.exec(`DEALLOCATE ${name}`)
      expect(await tdb.db.query(SQL, [7, 'b'], { prepare: name })).toEqual([{ n: 8, t: 'b' }])
      expect(await tdb.db.query(SQL, [8, 'c'], { prepare: name })).toEqual([{ n: 9, t: 'c' }])
      if (testDbKind() === 'pglite') expect(await preparedNames()).toContain(name)
    })

    it('generic: the same answers from the generic plan, and the session keeps its plan mode, also after a failure', async () => {
      const name = fresh()
      const DIV = `SELECT 10 / $1::int AS n`
      const mode = async () => (await tdb.db.query<{ m: string }>(`SELECT current_setting('plan_cache_mode') AS m`))[0].m
      for (const i of [1, 2, 5]) expect(await tdb.db.query(DIV, [i], { prepare: name, plan: 'generic' })).toEqual([{ n: 10 / i }])
      expect(await mode()).toBe('auto')
      await expect(tdb.db.query(DIV, [0], { prepare: name, plan: 'generic' })).rejects.toThrow(/division by zero/)
      expect(await mode()).toBe('auto')
      expect(await tdb.db.tx((q) => q.query(DIV, [2], { prepare: name, plan: 'generic' }))).toEqual([{ n: 5 }])
      expect(await mode()).toBe('auto')
      if (testDbKind() === 'pglite') {
        const stats = await planCounts(name)
        expect(stats.custom_plans).toBe(0)
        expect(stats.generic_plans).toBeGreaterThanOrEqual(4)
      }
    })

    it('values of every kind come back as the plain statement gives them', async () => {
      const name = fresh()
      const KINDS = `SELECT $1::uuid AS id, $2::text AS t, 42 AS i, 9007199254740991::bigint AS big, true AS b, NULL::text AS nothing,
        '2026-11-29T12:34:56.789Z'::timestamptz AS at, json_build_object('a', 1, 'b', $2::text) AS j, '{"x": [1, 2]}'::jsonb AS jb,
        ARRAY['a', $2::text] AS arr, ARRAY[1, 2] AS ints, 1.5::float8 AS f`
      const params = ['6f9619ff-8b86-d011-b42d-00cf4fc964ff', `ünï'cödé 😀`]
      const plain = await tdb.db.query(KINDS, params)
      expect(plain[0]).toMatchObject({ i: 42, b: true, nothing: null, at: new Date('2026-11-29T12:34:56.789Z'), j: { a: 1, b: params[1] }, ints: [1, 2] })
      // The first use prepares; the later ones run the kept statement (on PGlite in one round trip).
      for (let i = 0; i < 3; i++) expect(await tdb.db.query(KINDS, params, { prepare: name })).toEqual(plain)
    })

    it('an error of a kept statement is a database error with its SQLSTATE, and the session goes on', async () => {
      const name = fresh()
      const DIV = `SELECT 10 / $1::int AS n`
      expect(await tdb.db.query(DIV, [2], { prepare: name })).toEqual([{ n: 5 }])
      await expect(tdb.db.query(DIV, [0], { prepare: name })).rejects.toMatchObject({ code: '22012', message: 'division by zero' })
      expect(await tdb.db.query(DIV, [5], { prepare: name })).toEqual([{ n: 2 }])
    })

    it('a kept statement run outside never sees a transaction in progress half done', async () => {
      const table = `open_test_${process.pid}_${++counter}`
      await tdb.db.exec(`CREATE TABLE ${table} (n int)`)
      const name = fresh()
      const COUNT = `SELECT count(*)::int AS n FROM ${table}`
      expect(await tdb.db.query(COUNT, [], { prepare: name })).toEqual([{ n: 0 }])
      let inserted!: () => void
      const firstInserted = new Promise<void>((r) => (inserted = r))
      let go!: () => void
      const outsideSent = new Promise<void>((r) => (go = r))
      const inside = tdb.db.tx(async (q) => {
        await q.query(`INSERT INTO ${table} VALUES (1)`)
        inserted()
        await outsideSent
        await q.query(`INSERT INTO ${table} VALUES (2)`)
      })
      await firstInserted
      // PGlite is one session: run now, the count would see the first row of the open transaction.
      const outside = tdb.db.query<{ n: number }>(COUNT, [], { prepare: name })
      await new Promise((r) => setTimeout(r, 50))
      go()
      await inside
      expect([0, 2]).toContain((await outside)[0].n)
      expect(await tdb.db.query(COUNT, [], { prepare: name })).toEqual([{ n: 2 }])
    })

    it('answers of any size, several rows, and a small one after a large one', async () => {
      const name = fresh()
      const ROWS = `SELECT i, repeat(chr(252), $1::int) AS t FROM generate_series(1, 3) AS i`
      for (const size of [10, 300_000, 1_500_000, 5]) {
        const rows = await tdb.db.query<{ i: number; t: string }>(ROWS, [size], { prepare: name })
        expect(rows.map((r) => [r.i, r.t.length, r.t === 'ü'.repeat(size)])).toEqual([1, 2, 3].map((i) => [i, size, true]))
      }
    })

    it('only reads are kept prepared: another statement with a name is refused on PGlite', async () => {
      const table = `open_test_${process.pid}_${++counter}`
      await tdb.db.exec(`CREATE TABLE ${table} (n int)`)
      const writes = [
        `INSERT INTO ${table} VALUES ($1::int) RETURNING n`,
        `WITH x AS (INSERT INTO ${table} VALUES ($1::int) RETURNING n) SELECT n FROM x`,
        `WITH x AS (UPDATE ${table} SET n = $1::int RETURNING n) SELECT n FROM x`,
        `WITH x AS (DELETE FROM ${table} WHERE n = $1::int RETURNING n) SELECT n FROM x`,
      ]
      for (const sql of writes) {
        const query = tdb.db.query(sql, [1], { prepare: fresh() })
        if (testDbKind() === 'pglite') await expect(query).rejects.toThrow(/only reads are kept prepared/)
        else await query
      }
      // A read whose columns merely sound like writes is kept.
      const read = `WITH x AS (SELECT $1::int AS updated, now() AS deleted_at) SELECT updated FROM x`
      expect(await tdb.db.query(read, [3], { prepare: fresh() })).toEqual([{ updated: 3 }])
    })

    it('custom: planned for its values every time, with the same answers', async () => {
      const name = fresh()
      const DIV = `SELECT 10 / $1::int AS n, $2::timestamptz AS at`
      const at = new Date('2026-11-29T12:00:00.123Z')
      for (const i of [1, 2, 5, 1, 2, 5, 10]) expect(await tdb.db.query(DIV, [i, at], { prepare: name, plan: 'custom' })).toEqual([{ n: 10 / i, at }])
      expect((await tdb.db.query<{ m: string }>(`SELECT current_setting('plan_cache_mode') AS m`))[0].m).toBe('auto')
      if (testDbKind() === 'pglite') {
        const stats = await planCounts(name)
        expect(stats.generic_plans).toBe(0)
        expect(stats.custom_plans).toBeGreaterThanOrEqual(6)
      }
    })

    it('a name that is not a plain identifier is refused', async () => {
      const query = tdb.db.query(SQL, [1, 'a'], { prepare: 'x; DROP TABLE users' })
      if (testDbKind() === 'pglite') await expect(query).rejects.toThrow(/not a plain identifier/)
      else expect(await query).toEqual([{ n: 2, t: 'a' }])
    })
  })

  if (testDbKind() === 'postgres') {
    it('a statement with a prepare name is a named statement of the connection, unless turned off or planned per run', async () => {
      const prepared = async (named: boolean | undefined, plan?: 'custom' | 'generic') => {
        // One connection, so the statement and the look at pg_prepared_statements share a session.
        const db = await openDb({ databaseUrl: tdb.url!, dataDir: '', poolSize: 1, ...(named === undefined ? {} : { namedStatements: named }) })
        try {
          const name = `orgd_open_named_${randomBytes(4).toString('hex')}`
          for (const i of [1, 2]) expect(await db.query(`SELECT $1::int * 2 AS n`, [i], { prepare: name, plan })).toEqual([{ n: i * 2 }])
          expect(await db.tx((q) => q.query(`SELECT $1::int * 2 AS n`, [3], { prepare: name, plan }))).toEqual([{ n: 6 }])
          const rows = await db.query<{ name: string }>(`SELECT name FROM pg_prepared_statements WHERE name = $1`, [name])
          return rows.length === 1
        } finally {
          await db.close()
        }
      }
      expect(await prepared(undefined)).toBe(true)
      expect(await prepared(true, 'generic')).toBe(true)
      expect(await prepared(false)).toBe(false)
      expect(await prepared(true, 'custom')).toBe(false)
    })
  }

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
