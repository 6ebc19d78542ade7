// users.has_social_auth (migration 0009_user_social_flag.sql) under concurrent removals. On
// PostgreSQL two sessions remove a person's last two identities at the same moment; on PGlite (one
// session) the two transactions can only run one after the other, and the same end state is checked.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDb, type TestDb } from '../helpers/db.ts'

describe('users.has_social_auth', () => {
  let tdb: TestDb
  beforeAll(async () => {
    tdb = await createTestDb()
  })
  afterAll(async () => {
    await tdb.drop()
  })

  async function personWithTwoIdentities(tag: string): Promise<{ userId: number; identityIds: [number, number] }> {
    const [u] = await tdb.db.query<{ id: number }>(
      `INSERT INTO users (email, first_name) VALUES ($1, 'Flag') RETURNING id`,
      [`flag-${tag}@example.com`],
    )
    const ids = await tdb.db.query<{ id: number }>(
      `INSERT INTO social_identities (user_id, provider, uid) VALUES ($1, 'github', $2), ($1, 'google-oauth2', $2) RETURNING id`,
      [u.id, `uid-${tag}`],
    )
    return { userId: u.id, identityIds: [ids[0].id, ids[1].id] }
  }

  const flagOf = async (userId: number) =>
    (await tdb.db.query<{ f: boolean }>(`SELECT has_social_auth AS f FROM users WHERE id = $1`, [userId]))[0].f

  it('two transactions removing the last two identities at once leave it false', async () => {
    for (let round = 0; round < 5; round++) {
      const { userId, identityIds } = await personWithTwoIdentities(`race-${round}`)
      expect(await flagOf(userId)).toBe(true)
      if (!tdb.url) {
        for (const id of identityIds) await tdb.db.tx((q) => q.query(`DELETE FROM social_identities WHERE id = $1`, [id]))
      } else {
        const a = new pg.Client({ connectionString: tdb.url })
        const b = new pg.Client({ connectionString: tdb.url })
        await Promise.all([a.connect(), b.connect()])
        try {
          await a.query('BEGIN')
          await b.query('BEGIN')
          // Both rows go before either transaction ends: each trigger runs while the other
          // identity is still there as far as its own snapshot can tell.
          await a.query(`DELETE FROM social_identities WHERE id = $1`, [identityIds[0]])
          const bDelete = b.query(`DELETE FROM social_identities WHERE id = $1`, [identityIds[1]])
          // b's trigger waits for a's lock on the person; give it the time to get there.
          await new Promise((r) => setTimeout(r, 50))
          await a.query('COMMIT')
          await bDelete
          await b.query('COMMIT')
        } finally {
          await Promise.all([a.end(), b.end()])
        }
      }
      expect(await flagOf(userId)).toBe(false)
    }
  })

  it('a link added while another is removed leaves it true', async () => {
    const { userId, identityIds } = await personWithTwoIdentities('swap')
    await tdb.db.tx(async (q) => {
      await q.query(`DELETE FROM social_identities WHERE id = ANY($1::int[])`, [identityIds])
      await q.query(`INSERT INTO social_identities (user_id, provider, uid) VALUES ($1, 'github', 'uid-swap-new')`, [userId])
    })
    expect(await flagOf(userId)).toBe(true)
  })
})
