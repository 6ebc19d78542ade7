import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addMember, bearer, createKey, createTestApp, createUser, expectErrorShape, seedWorld, type TestApp, type World } from '../../helpers/app.ts'

let t: TestApp
let w: World
const base = () => `/api/organizations/${w.org.id}/members`

beforeAll(async () => {
  t = await createTestApp()
  w = await seedWorld(t.services)
})
afterAll(async () => t.close())

describe('PATCH members/:uuid (spec case 11, 12)', () => {
  it('refuses changing your own level', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `${base()}/${w.admin.uuid}/`, headers: bearer(w.keys.admin), payload: { level: 1 } })
    expect(res.statusCode).toBe(403)
    expect(res.json()).toEqual({ type: 'authentication_error', code: 'permission_denied', detail: "You can't change your own access level.", attr: null })
  })

  it('refuses a member editing others', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `${base()}/${w.admin.uuid}/`, headers: bearer(w.keys.member), payload: { level: 8 } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You can only edit others if you are an admin.')
  })

  it('refuses an admin making someone owner; an owner may, and stays owner', async () => {
    const target = await createUser(t.services, { firstName: 'Tara' })
    await addMember(t.services, w.org.id, target, 1)
    const denied = await t.app.inject({ method: 'PATCH', url: `${base()}/${target.uuid}/`, headers: bearer(w.keys.admin), payload: { level: 15 } })
    expect(denied.statusCode).toBe(403)
    expect(denied.json().detail).toBe("You can only make another member owner if you're this organization's owner.")

    const ok = await t.app.inject({ method: 'PATCH', url: `${base()}/${target.uuid}`, headers: bearer(w.keys.owner), payload: { level: 15 } })
    expect(ok.statusCode).toBe(200)
    expect(ok.json().level).toBe(15)
    expect(ok.json().user.uuid).toBe(target.uuid)
    const owners = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM memberships WHERE organization_id = $1 AND level = 15`, [w.org.id])
    expect(owners[0].n).toBe(2)
    const log = await t.db.query<{ detail: { changes: unknown[] } }>(`SELECT detail FROM activity_log WHERE scope = 'OrganizationMembership' AND activity = 'updated' AND detail->>'user_uuid' = $1`, [target.uuid])
    expect(log).toHaveLength(1)
    expect(log[0].detail.changes).toEqual([{ field: 'level', before: 1, after: 15 }])
    // restore a single owner for the other cases
    const back = await t.app.inject({ method: 'PATCH', url: `${base()}/${target.uuid}`, headers: bearer(w.keys.owner), payload: { level: 1 } })
    expect(back.statusCode).toBe(200)
  })

  it('refuses an admin editing an owner', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `${base()}/${w.owner.uuid}/`, headers: bearer(w.keys.admin), payload: { level: 8 } })
    expect(res.statusCode).toBe(403)
    expect(res.json().detail).toBe('You can only edit others with level lower or equal to you.')
  })

  it('rejects an invalid level naming the field, and changes nothing', async () => {
    const res = await t.app.inject({ method: 'PATCH', url: `${base()}/${w.member.uuid}/`, headers: bearer(w.keys.owner), payload: { level: 5 } })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'invalid_choice', detail: '"5" is not a valid choice.', attr: 'level' })
  })

  it('404s for an unknown or malformed member id', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid']) {
      const res = await t.app.inject({ method: 'PATCH', url: `${base()}/${id}/`, headers: bearer(w.keys.owner), payload: { level: 1 } })
      expect(res.statusCode).toBe(404)
      expectErrorShape(res.json())
    }
  })
})

describe('DELETE members/:uuid (spec case 13)', () => {
  it('the only owner cannot leave', async () => {
    const res = await t.app.inject({ method: 'DELETE', url: `${base()}/@me/`, headers: bearer(w.keys.owner) })
    expect(res.statusCode).toBe(400)
    expect(res.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'Cannot leave the organization as its owner!', attr: null })
  })

  it('a member can leave; the membership is gone and logged', async () => {
    const leaver = await createUser(t.services, { firstName: 'Leo' })
    await addMember(t.services, w.org.id, leaver, 1)
    const key = await createKey(t.services, leaver)
    const res = await t.app.inject({ method: 'DELETE', url: `${base()}/${leaver.uuid}/`, headers: bearer(key) })
    expect(res.statusCode).toBe(204)
    expect(res.body).toBe('')
    const rows = await t.db.query(`SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2`, [w.org.id, leaver.id])
    expect(rows).toHaveLength(0)
    const log = await t.db.query<{ detail: { removal_type: string } }>(`SELECT detail FROM activity_log WHERE activity = 'deleted' AND detail->>'user_uuid' = $1`, [leaver.uuid])
    expect(log[0].detail.removal_type).toBe('self_removal')
  })

  it('a member cannot remove others; an admin can', async () => {
    const victim = await createUser(t.services, { firstName: 'Vic' })
    await addMember(t.services, w.org.id, victim, 1)
    const denied = await t.app.inject({ method: 'DELETE', url: `${base()}/${victim.uuid}/`, headers: bearer(w.keys.member) })
    expect(denied.statusCode).toBe(403)
    const ok = await t.app.inject({ method: 'DELETE', url: `${base()}/${victim.uuid}/`, headers: bearer(w.keys.admin) })
    expect(ok.statusCode).toBe(204)
  })

  it('an owner cannot remove another owner', async () => {
    const co = await createUser(t.services, { firstName: 'Cory' })
    await addMember(t.services, w.org.id, co, 15)
    const res = await t.app.inject({ method: 'DELETE', url: `${base()}/${co.uuid}/`, headers: bearer(w.keys.owner) })
    expect(res.statusCode).toBe(400)
    expect(res.json().detail).toBe('Cannot leave the organization as its owner!')
    await t.db.query(`UPDATE memberships SET level = 1 WHERE user_id = $1`, [co.id])
  })
})

describe('GET members/ (spec case 14)', () => {
  // The list and search pages are built as JSON by the database; a single member is built in
  // JavaScript from Date values. Both must write the same member, to the character.
  it('writes a listed or found member exactly as PATCH writes it, timestamps included', async () => {
    const person = await createUser(t.services, { firstName: 'Quillon' })
    await addMember(t.services, w.org.id, person, 1)
    // A login with microseconds: both paths keep milliseconds, as Date.prototype.toISOString does.
    await t.db.query(`UPDATE users SET last_login = '2026-02-03 04:05:06.789654+00' WHERE id = $1`, [person.id])
    const patched = await t.app.inject({ method: 'PATCH', url: `${base()}/${person.uuid}/`, headers: bearer(w.keys.owner), payload: {} })
    expect(patched.statusCode).toBe(200)
    const single = patched.json()
    expect(single.last_login).toBe('2026-02-03T04:05:06.789Z')
    expect(single.joined_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)

    const listed = await t.app.inject({ method: 'GET', url: `${base()}/?limit=100`, headers: bearer(w.keys.owner) })
    const fromList = listed.json().results.find((r: { user: { uuid: string } }) => r.user.uuid === person.uuid)
    expect(fromList).toEqual(single)

    const found = await t.app.inject({ method: 'GET', url: `${base()}/?search=quillon`, headers: bearer(w.keys.owner) })
    expect(found.json().results).toEqual([{ ...single, search_match_type: 'exact' }])
    const similar = await t.app.inject({ method: 'GET', url: `${base()}/?search=quilon`, headers: bearer(w.keys.owner) })
    expect(similar.json().results).toContainEqual({ ...single, search_match_type: 'similar' })
  })

  it('ignores an unknown order and sorts newest first', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${base()}/?order=user__password`, headers: bearer(w.keys.member) })
    expect(res.statusCode).toBe(200)
    const joined = res.json().results.map((m: { joined_at: string }) => m.joined_at)
    expect(joined).toEqual([...joined].sort().reverse())
    const asc = await t.app.inject({ method: 'GET', url: `${base()}/?order=joined_at`, headers: bearer(w.keys.member) })
    expect(asc.json().results.map((m: { joined_at: string }) => m.joined_at)).toEqual([...joined].sort())
  })

  it('rejects a search over 200 characters and accepts exactly 200', async () => {
    const long = await t.app.inject({ method: 'GET', url: `${base()}/?search=${'a'.repeat(201)}`, headers: bearer(w.keys.member) })
    expect(long.statusCode).toBe(400)
    expect(long.json()).toEqual({ type: 'validation_error', code: 'invalid_input', detail: 'Search query must be 200 characters or fewer.', attr: 'search' })
    const ok = await t.app.inject({ method: 'GET', url: `${base()}/?search=${'a'.repeat(200)}`, headers: bearer(w.keys.member) })
    expect(ok.statusCode).toBe(200)
  })

  it('finds "Marketing" when searching "marekting", as a similar match', async () => {
    const m = await createUser(t.services, { firstName: 'Marketing', lastName: 'Person' })
    await addMember(t.services, w.org.id, m, 1)
    const res = await t.app.inject({ method: 'GET', url: `${base()}/?search=marekting`, headers: bearer(w.keys.member) })
    expect(res.statusCode).toBe(200)
    const hit = res.json().results.find((r: { user: { uuid: string } }) => r.user.uuid === m.uuid)
    expect(hit).toBeDefined()
    expect(hit.search_match_type).toBe('similar')
  })

  it('returns only substring matches when there are any, marked exact', async () => {
    const res = await t.app.inject({ method: 'GET', url: `${base()}/?search=OLIV`, headers: bearer(w.keys.member) })
    expect(res.json().count).toBe(1)
    expect(res.json().results[0].user.uuid).toBe(w.owner.uuid)
    expect(res.json().results[0].search_match_type).toBe('exact')
  })

  it('treats odd input as text, never a 500', async () => {
    for (const s of ['&|!', "'; DROP TABLE users; --", '%_\\', '\u0000abc', '   ', '((']) {
      const res = await t.app.inject({ method: 'GET', url: `${base()}/?search=${encodeURIComponent(s)}`, headers: bearer(w.keys.member) })
      expect(res.statusCode).toBe(200)
    }
  })

  it('filters by email and updated_after, and paginates with absolute links', async () => {
    const byEmail = await t.app.inject({ method: 'GET', url: `${base()}/?email=${encodeURIComponent(w.admin.email)}`, headers: bearer(w.keys.member) })
    expect(byEmail.json().count).toBe(1)
    expect(byEmail.json().results[0].user.uuid).toBe(w.admin.uuid)
    const future = await t.app.inject({ method: 'GET', url: `${base()}/?updated_after=2999-01-01T00:00:00Z`, headers: bearer(w.keys.member) })
    expect(future.json().count).toBe(0)
    const bad = await t.app.inject({ method: 'GET', url: `${base()}/?updated_after=yesterday`, headers: bearer(w.keys.member) })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().attr).toBe('updated_after')

    const page1 = await t.app.inject({ method: 'GET', url: `${base()}/?limit=2`, headers: bearer(w.keys.member) })
    const body = page1.json()
    expect(body.results).toHaveLength(2)
    expect(body.previous).toBeNull()
    expect(body.next).toMatch(/^http:\/\/localhost(:\d+)?\/api\/organizations\/.+\/members\/\?limit=2&offset=2$/)
    const page2 = await t.app.inject({ method: 'GET', url: `${base()}/?limit=2&offset=2`, headers: bearer(w.keys.member) })
    expect(page2.json().previous).toMatch(/members\/\?limit=2$/)
    const all = await t.app.inject({ method: 'GET', url: `${base()}/`, headers: bearer(w.keys.member) })
    expect(all.json().count).toBe(all.json().results.length)
  })

  it('a search honours the email and updated_after filters in both phases, run after run', async () => {
    const get = async (query: string) => {
      const res = await t.app.inject({ method: 'GET', url: `${base()}/?${query}`, headers: bearer(w.keys.member) })
      expect(res.statusCode).toBe(200)
      return res.json().results.map((r: { user: { uuid: string }; search_match_type: string }) => `${r.user.uuid}:${r.search_match_type}`)
    }
    const owner = encodeURIComponent(w.owner.email)
    const admin = encodeURIComponent(w.admin.email)
    // More runs than PostgreSQL's five custom plans, so a kept statement would show a plan switch.
    for (let i = 0; i < 7; i++) {
      expect(await get(`search=olivia&email=${owner}`)).toEqual([`${w.owner.uuid}:exact`])
      expect(await get(`search=olivia&email=${admin}`)).toEqual([])
      expect(await get('search=olivia&updated_after=2999-01-01T00:00:00Z')).toEqual([])
      expect(await get('search=olivia&updated_after=2000-01-01T00:00:00Z')).toEqual([`${w.owner.uuid}:exact`])
      expect(await get(`search=olivai&email=${owner}&updated_after=2000-01-01T00:00:00.000%2B02:00`)).toEqual([`${w.owner.uuid}:similar`])
      expect(await get(`search=olivai&email=${admin}`)).toEqual([])
    }
  })

  it('leaves out inactive users and counts them out too', async () => {
    const ghost = await createUser(t.services, { firstName: 'Ghost' })
    await addMember(t.services, w.org.id, ghost, 1)
    const before = (await t.app.inject({ method: 'GET', url: `${base()}/`, headers: bearer(w.keys.member) })).json()
    await t.db.query(`UPDATE users SET is_active = false WHERE id = $1`, [ghost.id])
    const after = (await t.app.inject({ method: 'GET', url: `${base()}/`, headers: bearer(w.keys.member) })).json()
    expect(after.count).toBe(before.count - 1)
    expect(after.results.some((r: { user: { uuid: string } }) => r.user.uuid === ghost.uuid)).toBe(false)
  })
})

describe('github_login and scoped_api_keys', () => {
  it('returns the linked GitHub login, integration first', async () => {
    const none = await t.app.inject({ method: 'GET', url: `${base()}/${w.member.uuid}/github_login/`, headers: bearer(w.keys.admin) })
    expect(none.json()).toEqual({ github_login: null })
    await t.db.query(`INSERT INTO social_identities (user_id, provider, uid, login) VALUES ($1, 'github', '42', 'social-login')`, [w.member.id])
    const social = await t.app.inject({ method: 'GET', url: `${base()}/${w.member.uuid}/github_login/`, headers: bearer(w.keys.admin) })
    expect(social.json()).toEqual({ github_login: 'social-login' })
    await t.db.query(`INSERT INTO user_integrations (user_id, kind, config) VALUES ($1, 'github', '{"github_user":{"login":"integration-login"}}')`, [w.member.id])
    const integ = await t.app.inject({ method: 'GET', url: `${base()}/${w.member.uuid}/github_login/`, headers: bearer(w.keys.admin) })
    expect(integ.json()).toEqual({ github_login: 'integration-login' })
    const list = await t.app.inject({ method: 'GET', url: `${base()}/?email=${encodeURIComponent(w.member.email)}`, headers: bearer(w.keys.admin) })
    expect(list.json().results[0].has_social_auth).toBe(true)
  })

  it('has_social_auth follows the person\'s social identities as they are linked, moved and removed', async () => {
    const u = await createUser(t.services, { firstName: 'Sol' })
    const other = await createUser(t.services, { firstName: 'Oda' })
    await addMember(t.services, w.org.id, u, 1)
    await addMember(t.services, w.org.id, other, 1)
    const flags = async () => {
      const res = await t.app.inject({ method: 'GET', url: `${base()}/?limit=500`, headers: bearer(w.keys.admin) })
      const byUuid = new Map(res.json().results.map((r: { user: { uuid: string }; has_social_auth: boolean }) => [r.user.uuid, r.has_social_auth]))
      const one = await t.app.inject({ method: 'PATCH', url: `${base()}/${u.uuid}/`, headers: bearer(w.keys.owner), payload: { level: 1 } })
      expect(one.statusCode).toBe(200)
      expect(one.json().has_social_auth).toBe(byUuid.get(u.uuid))
      return [byUuid.get(u.uuid), byUuid.get(other.uuid)]
    }
    expect(await flags()).toEqual([false, false])
    const [a] = await t.db.query<{ id: number }>(`INSERT INTO social_identities (user_id, provider, uid) VALUES ($1, 'github', 'sol-1') RETURNING id`, [u.id])
    await t.db.query(`INSERT INTO social_identities (user_id, provider, uid) VALUES ($1, 'google-oauth2', 'sol-2')`, [u.id])
    expect(await flags()).toEqual([true, false])
    await t.db.query(`DELETE FROM social_identities WHERE id = $1`, [a.id])
    expect(await flags()).toEqual([true, false])
    await t.db.query(`UPDATE social_identities SET user_id = $1 WHERE user_id = $2`, [other.id, u.id])
    expect(await flags()).toEqual([false, true])
    await t.db.query(`DELETE FROM social_identities WHERE user_id = $1`, [other.id])
    expect(await flags()).toEqual([false, false])
  })

  it('summarizes the member keys that reach this organization (session only)', async () => {
    const { login } = await import('../../helpers/app.ts')
    const u = await createUser(t.services, { firstName: 'Kim', password: 'correct horse battery staple' })
    await addMember(t.services, w.org.id, u, 1)
    await t.services.apiKeys.create(u, { label: 'Org Key', scopes: ['*'], scoped_organizations: [w.org.id] })
    await t.services.apiKeys.create(u, { label: 'Open Key', scopes: ['*'] })
    const outsiderOrgMember = await createKey(t.services, w.outsider)
    expect(outsiderOrgMember).toMatch(/^phx_/)
    const s = await login(t.app, w.admin.email)
    const res = await t.app.inject({ method: 'GET', url: `${base()}/${u.uuid}/scoped_api_keys/`, headers: s.headers })
    expect(res.statusCode).toBe(200)
    const body = res.json()
    expect(body.has_keys).toBe(true)
    expect(body.has_keys_active_last_week).toBe(false)
    expect(body.keys.map((k: { name: string }) => k.name).sort()).toEqual(['Open Key', 'Org Key'])
  })
})
