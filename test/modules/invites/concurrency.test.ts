/**
 * Requests that race each other. On PostgreSQL the requests run on separate pooled connections, so
 * their transactions really interleave; each scenario is repeated a few rounds because a race
 * that is lost only sometimes must still be caught. PGlite has one connection and runs the
 * transactions one after the other: the same requests must give the same answers there (what
 * PGlite checks is that the serial outcome is the one a client sees under contention too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, createTestApp, expectErrorShape, seedWorld, uniqueEmail, type TestApp, type World } from '../../helpers/app.ts'
import { testDbKind } from '../../helpers/env.ts'
import { checkInviteResponses } from './contract.ts'

let t: TestApp
let w: World
const ROUNDS = 6
const base = () => `/api/organizations/${w.org.id}/invites`

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
  await checkInviteResponses(t)
})
afterAll(async () => t.close())

async function invite(email: string, extra: Record<string, unknown> = {}): Promise<{ id: string }> {
  const res = await t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.owner), payload: { target_email: email, send_email: false, ...extra } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json()
}

async function invitesFor(email: string): Promise<Array<{ id: string; level: number; private_project_access: unknown }>> {
  return t.db.query(`SELECT id, level, private_project_access FROM invites WHERE organization_id = $1 AND lower(target_email) = lower($2)`, [w.org.id, email])
}

it('runs on the database this run tests', () => {
  expect(['pglite', 'postgres']).toContain(testDbKind())
  expect(t.db.kind).toBe(testDbKind())
})

describe('the same invite deleted twice at once', () => {
  it('one DELETE answers 204, the other 404, and the invite is gone', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const { id } = await invite(uniqueEmail('del-race'))
      const url = `${base()}/${id}/`
      const answers = await Promise.all([0, 1].map(() => t.app.inject({ method: 'DELETE', url, headers: bearer(w.keys.owner) })))
      expect(answers.map((r) => r.statusCode).sort(), answers.map((r) => r.body).join(' | ')).toEqual([204, 404])
      const notFound = answers.find((r) => r.statusCode === 404)!
      expect(notFound.json()).toEqual({ type: 'invalid_request', code: 'not_found', detail: 'Not found.', attr: null })
      expect(await t.db.query(`SELECT 1 FROM invites WHERE id = $1`, [id])).toHaveLength(0)
      // One deletion, one activity entry.
      const logged = await t.db.query(`SELECT 1 FROM activity_log WHERE scope = 'OrganizationInvite' AND item_id = $1 AND activity = 'deleted'`, [id])
      expect(logged).toHaveLength(1)
    }
  })
})

describe('combine_pending_invites under contention', () => {
  it('two merging invites to the same address at once keep both contributions', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const email = uniqueEmail('merge-race')
      await invite(email, { level: 1 })
      const post = (payload: Record<string, unknown>) =>
        t.app.inject({ method: 'POST', url: `${base()}/`, headers: bearer(w.keys.owner), payload: { target_email: email, send_email: false, combine_pending_invites: true, ...payload } })
      const answers = await Promise.all([post({ level: 8 }), post({ level: 1, private_project_access: [{ id: w.org.projectId, level: 'admin' }] })])
      expect(answers.map((r) => r.statusCode), answers.map((r) => r.body).join(' | ')).toEqual([201, 201])
      const rows = await invitesFor(email)
      expect(rows).toHaveLength(1)
      // Whichever ran second merged the first one's invite: admin level and the project access.
      expect(rows[0].level).toBe(8)
      expect(rows[0].private_project_access).toEqual([{ id: w.org.projectId, level: 'admin' }])
    }
  })
})

describe('two bulk requests for the same addresses at once', () => {
  it('in opposite orders: never a 5xx, and one live invite per address', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const emails = Array.from({ length: 20 }, () => uniqueEmail('bulk-race'))
      const body = (list: string[]) => list.map((target_email) => ({ target_email, send_email: false }))
      const answers = await Promise.all([
        t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.owner), payload: body(emails) }),
        t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.admin), payload: body([...emails].reverse()) }),
      ])
      for (const r of answers) {
        expect(r.statusCode, r.body.slice(0, 300)).toBeLessThan(500)
        if (r.statusCode !== 201) expectErrorShape(r.json())
      }
      // Serialised per organization, both succeed; the later one replaced the earlier invites.
      expect(answers.map((r) => r.statusCode)).toEqual([201, 201])
      for (const [i, r] of answers.entries()) {
        const sent = i === 0 ? emails : [...emails].reverse()
        expect((r.json() as Array<{ target_email: string }>).map((x) => x.target_email)).toEqual(sent)
      }
      const rows = await t.db.query<{ email: string; n: number }>(
        `SELECT lower(target_email) AS email, count(*)::int AS n FROM invites WHERE organization_id = $1 AND lower(target_email) = ANY ($2::text[]) GROUP BY 1`,
        [w.org.id, emails],
      )
      expect(rows).toHaveLength(20)
      expect(rows.every((r) => r.n === 1)).toBe(true)
    }
  })

  it('the same addresses in the same order: one live invite per address', async () => {
    const emails = Array.from({ length: 20 }, () => uniqueEmail('bulk-same'))
    const payload = emails.map((target_email) => ({ target_email, send_email: false }))
    const answers = await Promise.all([0, 1, 2].map(() => t.app.inject({ method: 'POST', url: `${base()}/bulk/`, headers: bearer(w.keys.owner), payload })))
    expect(answers.map((r) => r.statusCode)).toEqual([201, 201, 201])
    const [{ n }] = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM invites WHERE organization_id = $1 AND lower(target_email) = ANY ($2::text[])`, [w.org.id, emails])
    expect(n).toBe(20)
  })
})

describe('the same invite accepted twice at once', () => {
  it('by two anonymous sign-ups: one account joins, the other gets "This invite has already been used."', async () => {
    for (let round = 0; round < 3; round++) {
      const email = uniqueEmail('accept-race')
      const { id } = await invite(email, { level: 8 })
      const signup = () => t.app.inject({ method: 'POST', url: `/api/signup/${id}/`, payload: { first_name: 'Racer', password: 'correct horse battery staple 7' } })
      const answers = await Promise.all([signup(), signup()])
      expect(answers.map((r) => r.statusCode).sort(), answers.map((r) => r.body).join(' | ')).toEqual([201, 400])
      expect(answers.find((r) => r.statusCode === 400)!.json()).toEqual({ type: 'validation_error', code: 'expired', detail: 'This invite has already been used.', attr: null })
      const members = await t.db.query<{ level: number }>(`SELECT m.level FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2`, [w.org.id, email])
      expect(members).toEqual([{ level: 8 }])
      // The losing request left nothing behind: one user with that address, no invite.
      expect(await t.db.query(`SELECT 1 FROM users WHERE email = $1`, [email])).toHaveLength(1)
      expect(await invitesFor(email)).toHaveLength(0)
    }
  })

  it('by the same logged-in user on two connections: one membership, one "already used"', async () => {
    const email = uniqueEmail('accept-race-user')
    const { user } = await t.services.users.ensure({ email, password: 'correct horse battery staple 7', firstName: 'Lou', lastName: '' })
    const session = await t.services.users.startSession(user.id)
    const headers = { cookie: `sessionid=${session.cookie}; posthog_csrftoken=${session.csrfToken}`, 'x-csrftoken': session.csrfToken }
    const { id } = await invite(email)
    const answers = await Promise.all([0, 1].map(() => t.app.inject({ method: 'POST', url: `/api/signup/${id}/`, headers, payload: {} })))
    expect(answers.map((r) => r.statusCode).sort(), answers.map((r) => r.body).join(' | ')).toEqual([201, 400])
    expect(answers.find((r) => r.statusCode === 400)!.json()).toMatchObject({ code: 'expired', detail: 'This invite has already been used.' })
    expect(await t.db.query(`SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2`, [w.org.id, user.id])).toHaveLength(1)
  })
})
